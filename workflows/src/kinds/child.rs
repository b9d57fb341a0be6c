//! Child processes that die with the process that started them.
//!
//! A `churnflow run` killed with SIGKILL used to leave its shell task running as an orphan, which
//! then finished a side effect that the next process, finding the lapsed claim, ran again. On
//! Linux the child asks the kernel for SIGKILL when its parent goes (`PR_SET_PDEATHSIG`). The
//! kernel ties this to the thread that forked: tokio spawns from its worker threads, which live as
//! long as the runtime.

/// Makes the child that `command` starts receive SIGKILL when this process dies.
pub fn die_with_parent(command: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    // SAFETY: between fork and exec the closure only calls prctl, which is async-signal-safe, and
    // touches nothing of the parent's memory.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}
