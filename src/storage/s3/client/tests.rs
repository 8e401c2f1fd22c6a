//! Tests: S3 URLs, credentials, error messages and back-off.

use super::config::from_parts;
use super::*;

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

const FILE: &str = "# comment\n[other]\naws_access_key_id = OTHER\naws_secret_access_key = OTHERS\n\n\
                        [default]\naws_access_key_id = AKID\n; more\naws_secret_access_key=SECRET\nregion = eu-west-1\n";

#[test]
fn s3_urls() {
    let env = env_of(&[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")]);
    let c = from_parts("s3://my-bucket", "http://127.0.0.1:8333", &env, None).unwrap();
    assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("my-bucket", ""));
    assert_eq!(c.endpoint, "http://127.0.0.1:8333");
    assert_eq!(c.region, "us-east-1");
    assert_eq!((c.timeout, c.retries, c.max_idle), (S3_TIMEOUT, 3, 64));
    assert!(c.conditional_put);
    assert_eq!(c.full_key("a/b"), "a/b");
    let c = from_parts("s3://b.x/some/prefix/", "http://h:1/", &env, None).unwrap();
    assert_eq!(
        (c.bucket.as_str(), c.prefix.as_str()),
        ("b.x", "some/prefix")
    );
    assert_eq!(c.endpoint, "http://h:1");
    assert_eq!(c.full_key("k"), "some/prefix/k");
    let c = from_parts("s3://bkt//p//", "http://h", &env, None).unwrap();
    assert_eq!(c.prefix, "p", "outer slashes are trimmed");
    let c = from_parts("s3://bkt/a//b", "http://h", &env, None);
    assert!(c.is_err(), "empty segments");
    for bad in [
        "bucket",
        "s3://",
        "s3://ab",
        "s3://UPPER",
        "s3://-bkt",
        "s3://bkt/../x",
        "s3://bkt/a?b",
        "http://bkt",
    ] {
        assert!(
            matches!(
                from_parts(bad, "http://h", &env, None),
                Err(S3Error::Config(_))
            ),
            "{bad}"
        );
    }
    let e = from_parts("s3://bkt", "https://s3.amazonaws.com", &env, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("https endpoints are not supported"), "{e}");
    assert!(e.contains("TLS-terminating proxy"), "{e}");
    for bad in ["ftp://h", "http://h/path", "http://u:p@h", "h:80", ""] {
        assert!(from_parts("s3://bkt", bad, &env, None).is_err(), "{bad}");
    }
}

#[test]
fn credentials() {
    let none = env_of(&[]);
    let c = from_parts("s3://bkt", "http://h", &none, Some(FILE)).unwrap();
    assert_eq!(
        (
            c.access_key.as_str(),
            c.secret_key.as_str(),
            c.region.as_str()
        ),
        ("AKID", "SECRET", "eu-west-1")
    );
    // The environment wins, field by field.
    let env = env_of(&[("AWS_ACCESS_KEY_ID", "ENVKEY"), ("AWS_REGION", "r1")]);
    let c = from_parts("s3://bkt", "http://h", &env, Some(FILE)).unwrap();
    assert_eq!(
        (
            c.access_key.as_str(),
            c.secret_key.as_str(),
            c.region.as_str()
        ),
        ("ENVKEY", "SECRET", "r1")
    );
    let env = env_of(&[("AWS_PROFILE", "other")]);
    let c = from_parts("s3://bkt", "http://h", &env, Some(FILE)).unwrap();
    assert_eq!(c.access_key, "OTHER");
    // Missing credentials: a clear error.
    let e = from_parts("s3://bkt", "http://h", &none, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
    let half = "[default]\naws_access_key_id = A\n";
    assert!(from_parts("s3://bkt", "http://h", &none, Some(half)).is_err());
    let e = S3Config::from_url(
        "s3://bkt",
        "http://h",
        Some(Path::new("/nonexistent/creds")),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cannot read credentials file /nonexistent/creds"),
        "{e}"
    );
    // The secret is not shown by Debug.
    let c = from_parts("s3://bkt", "http://h", &none, Some(FILE)).unwrap();
    assert!(!format!("{c:?}").contains("SECRET"));
}

#[test]
fn messages_and_backoff() {
    let e = S3Error::Io(io::Error::new(
        io::ErrorKind::ConnectionRefused,
        "(127.0.0.1:8333): connection refused",
    ));
    assert_eq!(
        e.to_string(),
        "object store unreachable (127.0.0.1:8333): connection refused"
    );
    let e = S3Error::Status {
        status: 403,
        code: "AccessDenied".into(),
        message: "Access Denied.".into(),
    };
    assert_eq!(
        e.to_string(),
        "object store answered 403 AccessDenied: Access Denied."
    );
    assert_eq!(backoff(1), Duration::from_millis(50));
    assert_eq!(backoff(2), Duration::from_millis(100));
    assert_eq!(backoff(3), Duration::from_millis(200));
    assert_eq!(backoff(40), S3_BACKOFF_MAX);
}

#[test]
fn client_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<S3Client>();
}
