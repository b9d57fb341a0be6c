//! Renders a DAG's tasks and dependencies as Mermaid or Graphviz DOT, for `churnflow dags graph`.

use std::fmt::Write as _;

use crate::dag::Dag;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

pub fn render(dag: &Dag, format: GraphFormat) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    match format {
        GraphFormat::Mermaid => {
            let _ = writeln!(out, "flowchart LR");
            for task in &dag.tasks {
                let _ = writeln!(
                    out,
                    "    {}[\"{} ({})\"]",
                    node(&task.name),
                    task.name,
                    task.kind
                );
            }
            for task in &dag.tasks {
                for up in &task.upstream {
                    let _ = writeln!(out, "    {} --> {}", node(up), node(&task.name));
                }
            }
        }
        GraphFormat::Dot => {
            let _ = writeln!(out, "digraph \"{}\" {{", dag.name);
            let _ = writeln!(out, "    rankdir=LR;");
            for task in &dag.tasks {
                let _ = writeln!(
                    out,
                    "    \"{}\" [label=\"{}\\n({})\"];",
                    task.name, task.name, task.kind
                );
            }
            for task in &dag.tasks {
                for up in &task.upstream {
                    let _ = writeln!(out, "    \"{up}\" -> \"{}\";", task.name);
                }
            }
            let _ = writeln!(out, "}}");
        }
    }
    out
}

/// Mermaid node ids may not hold `-`.
fn node(name: &str) -> String {
    name.replace('-', "_")
}
