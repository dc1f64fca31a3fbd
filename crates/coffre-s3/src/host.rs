//! Virtual-hosted-style addressing: `bucket.DOMAIN[:port]` names the bucket; any other host
//! (the domain itself, `localhost`, an IP address) is path-style. s3s's own `SingleDomain`
//! compares the host with its port and treats unknown hosts as bucket names (CNAME style),
//! which would turn `localhost:9000` into a bucket; this one does neither.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// The base domain of virtual-hosted-style requests.
#[derive(Debug, Clone)]
pub struct BucketDomain {
    domain: String,
}

impl BucketDomain {
    /// A lowercase domain without trailing dot or port.
    pub fn new(domain: &str) -> BucketDomain {
        BucketDomain { domain: domain.trim_end_matches('.').to_ascii_lowercase() }
    }
}

/// The host without its port (IPv6 literals keep their brackets).
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && !h.ends_with(']') && h.contains(':') => {
            // A bare IPv6 address, no port.
            let _ = port;
            host
        }
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

impl S3Host for BucketDomain {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = strip_port(host);
        let lower = name.to_ascii_lowercase();
        if let Some(bucket) = lower.strip_suffix(self.domain.as_str()).and_then(|b| b.strip_suffix('.'))
            && !bucket.is_empty()
        {
            return Ok(VirtualHost::new(self.domain.as_str()).with_bucket(bucket.to_owned()));
        }
        Ok(VirtualHost::new(self.domain.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_come_from_subdomains_only() {
        let d = BucketDomain::new("s3.example.eu");
        assert_eq!(d.parse_host_header("photos.s3.example.eu:9000").unwrap().bucket(), Some("photos"));
        assert_eq!(d.parse_host_header("my.dotted.bucket.s3.example.eu").unwrap().bucket(), Some("my.dotted.bucket"));
        assert_eq!(d.parse_host_header("s3.example.eu:9000").unwrap().bucket(), None);
        assert_eq!(d.parse_host_header("localhost:9000").unwrap().bucket(), None);
        assert_eq!(d.parse_host_header("[::1]:9000").unwrap().bucket(), None);
    }
}
