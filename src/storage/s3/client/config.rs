//! The client's configuration: the `s3://bucket[/prefix]` URL, the endpoint, and credentials
//! from the environment or an `~/.aws/credentials` file.
//!
//! Owns: parsing and checking those. Must never: print a secret (`Debug` hides the keys), or
//! read a credentials file over `S3_MAX_CREDENTIALS_FILE`.

use super::*;

/// Where and how to reach the object store.
#[derive(Clone)]
pub struct S3Config {
    /// `http://host[:port]`, no path.
    pub endpoint: String,
    pub bucket: String,
    /// `""` or `some/prefix` (no leading or trailing slash); every key is relative to it.
    pub prefix: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// `true`: create with `If-None-Match: *` (412 = exists). `false`: HEAD then PUT, racy,
    /// for stores that ignore the header.
    pub conditional_put: bool,
    /// Connect/read/write timeout per request.
    pub timeout: Duration,
    /// Retries on connection errors and 5xx, with exponential back-off from [`S3_BACKOFF`].
    pub retries: u32,
    /// Bound of the idle connection pool.
    pub max_idle: usize,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<hidden>")
            .field("conditional_put", &self.conditional_put)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_idle", &self.max_idle)
            .finish()
    }
}

impl S3Config {
    /// Parses `s3://bucket` or `s3://bucket/some/prefix`; the endpoint is given separately;
    /// credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_REGION`, or
    /// from `credentials_file` (`~/.aws/credentials` INI: the `[default]` section, or the one
    /// `AWS_PROFILE` names), each environment variable winning over the file.
    pub fn from_url(
        url: &str,
        endpoint: &str,
        credentials_file: Option<&Path>,
    ) -> Result<S3Config, S3Error> {
        let file = match credentials_file {
            Some(p) => Some(read_credentials_file(p)?),
            None => None,
        };
        from_parts(
            url,
            endpoint,
            &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            file.as_deref(),
        )
    }

    /// The full key of `key` (the prefix joined to it).
    pub fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }
}

pub(super) fn read_credentials_file(p: &Path) -> Result<String, S3Error> {
    use std::io::Read;
    let cfg = |e: io::Error| {
        S3Error::Config(format!("cannot read credentials file {}: {e}", p.display()))
    };
    let mut text = String::new();
    std::fs::File::open(p)
        .map_err(cfg)?
        .take(S3_MAX_CREDENTIALS_FILE)
        .read_to_string(&mut text)
        .map_err(cfg)?;
    Ok(text)
}

/// [`S3Config::from_url`] with the environment and the file's text given.
pub(super) fn from_parts(
    url: &str,
    endpoint: &str,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<&str>,
) -> Result<S3Config, S3Error> {
    let (bucket, prefix) = parse_s3_url(url)?;
    let endpoint = parse_endpoint(endpoint)?;
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
    let section = file.map(|f| ini_section(f, &profile)).unwrap_or_default();
    let from_file = |key: &str| {
        section
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let access_key = env("AWS_ACCESS_KEY_ID").or_else(|| from_file("aws_access_key_id"));
    let secret_key = env("AWS_SECRET_ACCESS_KEY").or_else(|| from_file("aws_secret_access_key"));
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| from_file("region"))
        .unwrap_or_else(|| S3_DEFAULT_REGION.to_string());
    let (Some(access_key), Some(secret_key)) = (access_key, secret_key) else {
        return Err(S3Error::Config(format!(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give a \
             credentials file with aws_access_key_id and aws_secret_access_key in [{profile}]"
        )));
    };
    Ok(S3Config {
        endpoint,
        bucket,
        prefix,
        region,
        access_key,
        secret_key,
        conditional_put: true,
        timeout: S3_TIMEOUT,
        retries: S3_RETRIES,
        max_idle: S3_MAX_IDLE,
    })
}

/// `s3://bucket[/prefix]` → (bucket, normalised prefix).
pub(super) fn parse_s3_url(url: &str) -> Result<(String, String), S3Error> {
    let bad = |why: &str| S3Error::Config(format!("bad S3 URL {url:?}: {why}"));
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("it must start with s3://"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if !valid_bucket(bucket) {
        return Err(bad(
            "the bucket name must be 3 to 63 lower-case letters, digits, '.' or '-'",
        ));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.contains(['?', '#'])
        || prefix.chars().any(char::is_control)
        || (!prefix.is_empty()
            && prefix
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."))
    {
        return Err(bad("the prefix must be plain path segments"));
    }
    if prefix.len() > S3_MAX_KEY / 2 {
        return Err(bad("the prefix is too long"));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

pub(super) fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

/// `http://host[:port][/]` → normalised without the slash.
pub(super) fn parse_endpoint(endpoint: &str) -> Result<String, S3Error> {
    if endpoint.starts_with("https://") {
        return Err(S3Error::Config(format!(
            "https endpoints are not supported ({endpoint}); put a TLS-terminating proxy \
             (e.g. stunnel, nginx, haproxy) on localhost in front of it and give its http:// address"
        )));
    }
    let u = url::Url::parse(endpoint)
        .map_err(|e| S3Error::Config(format!("bad S3 endpoint {endpoint:?}: {e}")))?;
    if u.scheme() != "http"
        || u.host_str().is_none()
        || !u.username().is_empty()
        || u.password().is_some()
        || u.path() != "/"
        || u.query().is_some()
        || u.fragment().is_some()
    {
        return Err(S3Error::Config(format!(
            "bad S3 endpoint {endpoint:?}: give http://host[:port] without a path"
        )));
    }
    Ok(u.as_str().trim_end_matches('/').to_string())
}

/// The `key = value` pairs of `[name]` in an INI text (keys lower-cased).
pub(super) fn ini_section(text: &str, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(h) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let h = h.trim();
            // ~/.aws/config writes "[profile name]"; accept it too.
            inside = h == name || h.strip_prefix("profile ").map(str::trim) == Some(name);
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    out
}
