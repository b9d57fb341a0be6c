//! Keeps passwords in connection URLs out of logs and error messages: the password of the
//! userinfo (`user:secret@host`) and the values of query parameters that carry secrets
//! (`?password=...`, `sslpassword`, `secret`, `token`, `key`...), for every URL churnflow
//! shows: run store, warehouse, SMTP and object store.

/// Query parameter names whose values are secrets (matched case-insensitively, by substring).
const SECRET_PARAMETERS: [&str; 5] = ["pass", "secret", "token", "key", "auth"];

/// `url` with its secrets replaced by `***`. Text that is not a URL comes back unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = url[..authority_start].to_string();
    // The password sits between the first ':' of the userinfo and the last '@' of the authority.
    match authority.rfind('@').map(|at| (at, &authority[..at])) {
        Some((at, userinfo)) if userinfo.contains(':') => {
            let colon = userinfo.find(':').unwrap_or(userinfo.len());
            out.push_str(&userinfo[..colon]);
            out.push_str(":***");
            out.push_str(&authority[at..]);
        }
        _ => out.push_str(authority),
    }
    let tail = &rest[authority_end..];
    let Some(query_start) = tail.find('?') else {
        out.push_str(tail);
        return out;
    };
    out.push_str(&tail[..=query_start]);
    let query_and_fragment = &tail[query_start + 1..];
    let query_end = query_and_fragment
        .find('#')
        .unwrap_or(query_and_fragment.len());
    let pairs: Vec<String> = query_and_fragment[..query_end]
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_parameter(name) => format!("{name}=***"),
            _ => pair.to_string(),
        })
        .collect();
    out.push_str(&pairs.join("&"));
    out.push_str(&query_and_fragment[query_end..]);
    out
}

/// Environment variables that carry secrets. A `shell` task's process does not inherit them
/// unless its DAG names them in `pass_env`, and their secret parts are masked in what it prints.
pub const SECRET_ENV: [&str; 7] = [
    "DATABASE_URL",
    "CHURNFLOW_SMTP_URL",
    "CHURNFLOW_STORE_ROOT",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "PGPASSWORD",
    "CHURNFLOW_TEST_PG",
];

/// The secret parts of a URL: the userinfo's password and the values of secret query parameters.
pub fn url_secrets(url: &str) -> Vec<String> {
    let Some(scheme_end) = url.find("://") else {
        return Vec::new();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut secrets = Vec::new();
    if let Some(at) = authority.rfind('@')
        && let Some((_, password)) = authority[..at].split_once(':')
    {
        secrets.push(password.to_string());
    }
    if let Some((_, query)) = rest[authority_end..].split_once('?') {
        let query = query.split('#').next().unwrap_or_default();
        for pair in query.split('&') {
            if let Some((name, value)) = pair.split_once('=')
                && is_secret_parameter(name)
            {
                secrets.push(value.to_string());
            }
        }
    }
    secrets
}

/// Variables whose whole value is a secret; the others of [`SECRET_ENV`] are URLs (or plain
/// paths) whose secret parts [`url_secrets`] finds.
const WHOLE_VALUE_SECRETS: [&str; 3] = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD"];

/// `text` with `%XX` escapes decoded, when that gives other text (a password `p@ss` is written
/// `p%40ss` in a URL but printed as `p@ss` by a program that decoded it).
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .ok()
        .filter(|decoded| decoded != text)
}

/// The secrets this process holds in [`SECRET_ENV`]: the secret parts of URLs (as written and
/// percent-decoded), whole values of the variables that are secrets through and through. Plain
/// paths (a local `CHURNFLOW_STORE_ROOT`) hold none. Values shorter than 3 characters are left
/// out: masking them would garble text.
pub fn secrets_in_env() -> Vec<String> {
    let mut secrets: Vec<String> = SECRET_ENV
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| (*name, value)))
        .flat_map(|(name, value)| {
            if value.contains("://") {
                url_secrets(&value)
            } else if WHOLE_VALUE_SECRETS.contains(&name) {
                vec![value]
            } else {
                Vec::new()
            }
        })
        .flat_map(|secret| {
            let decoded = percent_decoded(&secret);
            std::iter::once(secret).chain(decoded)
        })
        .filter(|secret| secret.len() >= 3)
        .collect();
    // Longest first, so a secret that contains another is masked whole.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    secrets.dedup();
    secrets
}

/// `text` with every occurrence of each secret replaced by `***`.
pub fn mask_secrets(text: &str, secrets: &[String]) -> String {
    let mut masked = text.to_string();
    for secret in secrets {
        if masked.contains(secret.as_str()) {
            masked = masked.replace(secret.as_str(), "***");
        }
    }
    masked
}

fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMETERS.iter().any(|secret| name.contains(secret))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn hides_passwords() {
        assert_eq!(
            redact_url("postgres://churn:s3cr3t@db:5432/churn"),
            "postgres://churn:***@db:5432/churn"
        );
        assert_eq!(
            redact_url("smtps://user:p@ss:w@rd@mail.example.com:465"),
            "smtps://user:***@mail.example.com:465"
        );
    }

    #[test]
    fn hides_secrets_in_query_parameters() {
        assert_eq!(
            redact_url("postgres://churn@db/churn?password=hunter2&sslmode=require"),
            "postgres://churn@db/churn?password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://u:pw@db/churn?sslmode=require&SSLPASSWORD=x#frag"),
            "postgres://u:***@db/churn?sslmode=require&SSLPASSWORD=***#frag"
        );
        assert_eq!(
            redact_url("s3://bucket/prefix?access_key_id=AKIA&secret_access_key=abc&region=eu"),
            "s3://bucket/prefix?access_key_id=***&secret_access_key=***&region=eu"
        );
        assert_eq!(
            redact_url("smtp://mail:2525?tls=required&auth_token=t"),
            "smtp://mail:2525?tls=required&auth_token=***"
        );
    }

    #[test]
    fn finds_and_masks_the_secrets_of_a_url() {
        let secrets = super::url_secrets("postgres://u:pw-123@db/c?sslmode=x&password=hunter2");
        assert_eq!(secrets, ["pw-123", "hunter2"]);
        assert_eq!(
            super::mask_secrets("connecting with hunter2 and pw-123", &secrets),
            "connecting with *** and ***"
        );
        assert!(super::url_secrets("sqlite://x.db").is_empty());
        assert_eq!(
            super::percent_decoded("p%40ss%20word").as_deref(),
            Some("p@ss word")
        );
        assert_eq!(super::percent_decoded("plain"), None);
    }

    #[test]
    fn leaves_urls_without_password() {
        for url in [
            "postgres://churn@db/churn",
            "postgres://churn@db/churn?sslmode=require&application_name=churnflow",
            "sqlite:///var/lib/churnflow/runs.db",
            "sqlite://.churnflow/churnflow.db?mode=rwc",
            "not a url",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }
}
