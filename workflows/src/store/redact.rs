//! Keeps passwords in connection URLs out of logs and error messages.

/// `url` with the password part of its authority replaced by `***`. Text that is not a URL with a
/// password comes back unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    // The password sits between the first ':' of the userinfo and the last '@' of the authority.
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_string();
    };
    format!(
        "{}{}:***{}",
        &url[..authority_start],
        &userinfo[..colon],
        &url[authority_start + at..]
    )
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
    fn leaves_urls_without_password() {
        for url in [
            "postgres://churn@db/churn",
            "sqlite:///var/lib/churnflow/runs.db",
            "not a url",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }
}
