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

/// Longest lifetime of a presigned URL, in seconds (seven days).
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>
pub const PRESIGNED_EXPIRES_SECONDS_MAX: u64 = 604_800;

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

#[cfg(test)]
fn check_scope_for_test(credential: &str, date: Option<&str>) -> Result<(), S3Error> {
    check_scope(credential, date, malformed_header)
}

fn query_error(message: &str) -> S3Error {
    crate::errors::custom("AuthorizationQueryParametersError", StatusCode::BAD_REQUEST, message.to_owned())
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
        let claim = header_claim(text)?;
        let date = req.headers().get("x-amz-date").and_then(|v| v.to_str().ok());
        check_scope(&claim.credential, date, malformed_header)?;
        return Ok(Signing::Header(claim));
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
    if unique("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
        return Err(query_error("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\""));
    }
    let credential = unique("X-Amz-Credential")?;
    let signed_headers = unique("X-Amz-SignedHeaders")?.split(';').map(str::to_owned).collect();
    let date = unique("X-Amz-Date")?;
    if !unique("X-Amz-Expires")?.parse::<u64>().is_ok_and(|n| n <= PRESIGNED_EXPIRES_SECONDS_MAX) {
        return Err(query_error("X-Amz-Expires must be less than a week (in seconds) that is; 604800"));
    }
    unique("X-Amz-Signature")?;
    check_scope(&credential, Some(&date), query_error)?;
    Ok(Signing::Presigned(Claim { credential, signed_headers }))
}

/// Checks a credential scope (`access-key/YYYYMMDD/region/s3/aws4_request`) and the request
/// time it must agree with (`YYYYMMDDTHHMMSSZ`), with AWS's messages; `malformed` makes the
/// error of the scheme (header or query).
fn check_scope(credential: &str, date: Option<&str>, malformed: impl Fn(&str) -> S3Error) -> Result<(), S3Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, day, _region, service, terminal] = parts.as_slice() else {
        return Err(malformed(
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \
             \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        ));
    };
    if key.is_empty() || day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("Error parsing the X-Amz-Credential parameter; the credential date or key is invalid."));
    }
    if *service != "s3" {
        return Err(malformed(&format!(
            "Error parsing the X-Amz-Credential parameter; incorrect service \"{service}\". This endpoint belongs to \"s3\"."
        )));
    }
    if *terminal != "aws4_request" {
        return Err(malformed(&format!(
            "Error parsing the X-Amz-Credential parameter; incorrect terminal \"{terminal}\". This endpoint uses \"aws4_request\"."
        )));
    }
    let valid_time = |t: &str| {
        t.len() == 16 && t.as_bytes()[8] == b'T' && t.ends_with('Z') && t[..8].bytes().all(|b| b.is_ascii_digit())
    };
    match date {
        Some(t) if valid_time(t) => {
            if !t.starts_with(day) {
                return Err(malformed("Invalid credential date. Date is not the same as X-Amz-Date."));
            }
            Ok(())
        }
        // SigV4 may also take its time from `Date`; s3s checks that one.
        None => Ok(()),
        Some(_) => Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )),
    }
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
    fn credential_scopes_are_checked_as_aws_does() {
        let ok = "AK/20260101/eu-west-3/s3/aws4_request";
        assert!(check_scope_for_test(ok, Some("20260101T120000Z")).is_ok());
        for (bad, date) in [
            ("AK/20260101/eu-west-3/ec2/aws4_request", "20260101T120000Z"),
            ("AK/20260101/eu-west-3/s3/aws5_request", "20260101T120000Z"),
            ("AK/2026-01-01/eu-west-3/s3/aws4_request", "20260101T120000Z"),
            ("AK/20260101/s3/aws4_request", "20260101T120000Z"),
            (ok, "20260102T120000Z"),
        ] {
            let err = check_scope_for_test(bad, Some(date)).unwrap_err();
            assert_eq!(err.code(), &S3ErrorCode::AuthorizationHeaderMalformed, "{bad} {date}");
        }
        assert_eq!(check_scope_for_test(ok, Some("yesterday")).unwrap_err().code(), &S3ErrorCode::AccessDenied);
    }

    #[test]
    fn schemes_are_told_apart() {
        assert_eq!(read(&request(None, "/b/k", &[])).unwrap(), Signing::Anonymous);
        assert_eq!(read(&request(Some("AWS AK:sig"), "/b/k", &[])).unwrap(), Signing::SigV2);
        assert_eq!(read(&request(None, "/b/k?AWSAccessKeyId=AK&Signature=s&Expires=1", &[])).unwrap(), Signing::SigV2);
        let presigned = "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-SignedHeaders=host&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-Signature=s";
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
            &[("host", "h"), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"), ("x-amz-date", "20260101T000000Z")],
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
        h.insert("x-amz-date", "20260101T000000Z".parse().unwrap());
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
