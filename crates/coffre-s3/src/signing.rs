//! What a request's signature claims, read once by the front before s3s verifies it: the
//! scheme, the credential scope and the headers it says it signed.
//!
//! s3s verifies the signature over exactly the headers listed in `SignedHeaders`; it does not
//! ask whether the request carries headers that no signature covers. This module closes that
//! class, as AWS does: every `x-amz-*` header present must be signed, `host` must be signed,
//! and every header listed as signed must be present. The list is parsed strictly (one
//! `Credential`, one `SignedHeaders`, one `Signature`, in s3s's order); anything ambiguous is
//! refused rather than read one way here and another way in s3s.

use http::{HeaderMap, Request, StatusCode};
use s3s::{S3Error, S3ErrorCode};

/// The signature scheme of a request and what it claims.
#[derive(Debug, PartialEq, Eq)]
pub enum Signing {
    /// Neither an `Authorization` header nor a presigned query.
    Anonymous,
    /// Signature Version 2 (header or query).
    SigV2,
    /// SigV4 in the `Authorization` header.
    Header(Claim),
    /// SigV4 in the query string (a presigned URL).
    Presigned(Claim),
}

/// What a SigV4 signature says about itself.
#[derive(Debug, PartialEq, Eq)]
pub struct Claim {
    /// `access-key/date/region/service/aws4_request`.
    pub credential: String,
    /// The header names listed as signed, as sent.
    pub signed_headers: Vec<String>,
}

impl Claim {
    /// The access key id the signature claims.
    pub fn access_key(&self) -> &str {
        self.credential.split('/').next().unwrap_or_default()
    }

    /// The region of the credential scope.
    pub fn region(&self) -> Option<&str> {
        self.credential.split('/').nth(2)
    }
}

fn malformed_header(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::AuthorizationHeaderMalformed, message.to_owned())
}

fn query_error(message: &'static str) -> S3Error {
    crate::errors::custom("AuthorizationQueryParametersError", StatusCode::BAD_REQUEST, message)
}

/// Reads how `req` is signed. A SigV4 `Authorization` header that does not have exactly the
/// form `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` is malformed.
pub fn read<B>(req: &Request<B>) -> Result<Signing, S3Error> {
    let mut authorizations = req.headers().get_all(http::header::AUTHORIZATION).iter();
    let authorization = authorizations.next();
    if authorizations.next().is_some() {
        return Err(malformed_header("The request carries more than one Authorization header."));
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let params = |name: &'static str| query.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str());
    if let Some(value) = authorization {
        let text = value.to_str().map_err(|_| malformed_header("The Authorization header is not ASCII."))?;
        if text.bytes().all(|b| b.is_ascii_whitespace()) {
            return Err(S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied"));
        }
        if text.starts_with("AWS ") {
            return Ok(Signing::SigV2);
        }
        return header_claim(text).map(Signing::Header);
    }
    if params("AWSAccessKeyId").next().is_some() && params("Signature").next().is_some() {
        return Ok(Signing::SigV2);
    }
    if params("X-Amz-Algorithm").next().is_none() && params("X-Amz-Signature").next().is_none() {
        return Ok(Signing::Anonymous);
    }
    let unique = |name: &'static str| {
        let mut values = params(name);
        match (values.next(), values.next()) {
            (Some(v), None) => Ok(v.to_owned()),
            _ => Err(query_error(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, \
                 X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            )),
        }
    };
    let credential = unique("X-Amz-Credential")?;
    let signed_headers = unique("X-Amz-SignedHeaders")?.split(';').map(str::to_owned).collect();
    Ok(Signing::Presigned(Claim { credential, signed_headers }))
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
fn header_claim(text: &str) -> Result<Claim, S3Error> {
    let malformed = || {
        malformed_header(
            "The authorization header is malformed; it must be 'AWS4-HMAC-SHA256 Credential=..., \
             SignedHeaders=..., Signature=...'.",
        )
    };
    let (algorithm, rest) = text.split_once(|c: char| c.is_ascii_whitespace()).ok_or_else(malformed)?;
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(S3Error::with_message(S3ErrorCode::InvalidArgument, "Unsupported Authorization Type"));
    }
    let parts: Vec<&str> = rest.split(',').map(str::trim).collect();
    let [credential, signed_headers, signature] = parts.as_slice() else {
        return Err(malformed());
    };
    let credential = credential.strip_prefix("Credential=").ok_or_else(malformed)?;
    let signed_headers = signed_headers.strip_prefix("SignedHeaders=").ok_or_else(malformed)?;
    if signature.strip_prefix("Signature=").is_none() || signed_headers.is_empty() {
        return Err(malformed());
    }
    Ok(Claim {
        credential: credential.to_owned(),
        signed_headers: signed_headers.split(';').map(str::to_owned).collect(),
    })
}

/// Refuses a SigV4 request whose signature does not cover what it must: `host`, every
/// `x-amz-*` header present, and only headers that are present (AWS: 403 AccessDenied, "There
/// were headers present in the request which were not signed").
pub fn check_coverage(claim: &Claim, headers: &HeaderMap, authority_is_host: bool) -> Result<(), S3Error> {
    let signed = |name: &str| claim.signed_headers.iter().any(|s| s == name);
    let mut unsigned: Vec<&str> = headers
        .keys()
        .map(http::HeaderName::as_str)
        .filter(|name| name.starts_with("x-amz-") && !signed(name))
        .collect();
    if !signed("host") {
        unsigned.insert(0, "host");
    }
    unsigned.dedup();
    if !unsigned.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            format!("There were headers present in the request which were not signed: {}", unsigned.join(", ")),
        ));
    }
    // Names are compared exactly as sent: a name s3s cannot find (wrong case, absent) would be
    // left out of the string it verifies, so the signature would not cover it.
    let present = |name: &str| headers.keys().any(|h| h.as_str() == name) || (name == "host" && authority_is_host);
    if let Some(absent) = claim.signed_headers.iter().find(|name| !present(name)) {
        return Err(S3Error::with_message(
            S3ErrorCode::SignatureDoesNotMatch,
            format!(
                "The request signature names a header the request does not carry ('{absent}'); \
                 SignedHeaders must list lowercase names of headers that are present."
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(auth: Option<&str>, uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AK/20260101/eu-west-3/s3/aws4_request, \
                        SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=abc";

    #[test]
    fn header_claims_are_read_strictly() {
        let req = request(Some(AUTH), "/b/k", &[]);
        let Signing::Header(claim) = read(&req).unwrap() else { panic!("not a header signature") };
        assert_eq!(claim.access_key(), "AK");
        assert_eq!(claim.region(), Some("eu-west-3"));
        assert_eq!(claim.signed_headers, ["host", "x-amz-content-sha256", "x-amz-date"]);
        for bad in [
            "AWS4-HMAC-SHA256 Credential=AK/x, Signature=abc",
            "AWS4-HMAC-SHA256 Credential=AK/x, SignedHeaders=host, SignedHeaders=x, Signature=abc",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Credential=AK/x, Signature=abc",
            "AWS4-HMAC-SHA256 Credential=AK/x, SignedHeaders=, Signature=abc",
            "AWS4-HMAC-SHA512 Credential=AK/x, SignedHeaders=host, Signature=abc",
            "Bearer token",
        ] {
            assert!(read(&request(Some(bad), "/b/k", &[])).is_err(), "{bad}");
        }
    }

    #[test]
    fn schemes_are_told_apart() {
        assert_eq!(read(&request(None, "/b/k", &[])).unwrap(), Signing::Anonymous);
        assert_eq!(read(&request(Some("AWS AK:sig"), "/b/k", &[])).unwrap(), Signing::SigV2);
        assert_eq!(read(&request(None, "/b/k?AWSAccessKeyId=AK&Signature=s&Expires=1", &[])).unwrap(), Signing::SigV2);
        let presigned = "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-SignedHeaders=host&X-Amz-Signature=s";
        let req = request(None, presigned, &[]);
        let Signing::Presigned(claim) = read(&req).unwrap() else { panic!("not presigned") };
        assert_eq!(claim.access_key(), "AK");
        assert_eq!(claim.signed_headers, ["host"]);
        let twice = format!("{presigned}&X-Amz-SignedHeaders=host%3Bx-amz-acl");
        assert!(read(&request(None, &twice, &[])).is_err());
    }

    #[test]
    fn every_amz_header_and_host_must_be_signed() {
        let req = request(
            Some(AUTH),
            "/b/k",
            &[("host", "h"), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"), ("x-amz-date", "d")],
        );
        let Signing::Header(claim) = read(&req).unwrap() else { panic!() };
        assert!(check_coverage(&claim, req.headers(), false).is_ok());

        let mut extra = req.headers().clone();
        extra.insert("x-amz-acl", "public-read".parse().unwrap());
        extra.insert("user-agent", "any".parse().unwrap());
        let err = check_coverage(&claim, &extra, false).unwrap_err();
        assert_eq!(err.code(), &S3ErrorCode::AccessDenied);
        assert!(err.message().unwrap().contains("x-amz-acl"));

        let no_host = Claim { signed_headers: vec!["x-amz-date".into()], ..claim_of(AUTH) };
        let mut h = HeaderMap::new();
        h.insert("x-amz-date", "d".parse().unwrap());
        let err = check_coverage(&no_host, &h, true).unwrap_err();
        assert!(err.message().unwrap().contains("host"));

        let absent = Claim { signed_headers: vec!["host".into(), "x-amz-meta-gone".into()], ..claim_of(AUTH) };
        let mut h = HeaderMap::new();
        h.insert("host", "h".parse().unwrap());
        assert_eq!(check_coverage(&absent, &h, false).unwrap_err().code(), &S3ErrorCode::SignatureDoesNotMatch);
        // Over HTTP/2 the host is the URI's authority.
        let h2 = Claim { signed_headers: vec!["host".into()], ..claim_of(AUTH) };
        assert!(check_coverage(&h2, &HeaderMap::new(), true).is_ok());
        assert!(check_coverage(&h2, &HeaderMap::new(), false).is_err());
    }

    fn claim_of(auth: &str) -> Claim {
        header_claim(auth).unwrap()
    }
}
