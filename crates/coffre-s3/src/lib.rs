//! Coffre's S3 front: an [`s3s::S3`] implementation over the object engine, the SigV4 secret
//! lookup and request authorisation (tenants, policies, ACLs), the request layer in front of s3s (SigV2 refusal, presigned expiry cap, region
//! check, request ids, metrics) and the single map from engine errors to S3 errors.

#![forbid(unsafe_code)]

pub mod access;
pub mod access_log;
pub mod audit;
pub mod authorised;
pub mod bucket_access;
pub mod config_body;
pub mod convert;
pub mod errors;
pub mod form;
pub mod front;
pub mod host;
pub mod idle_body;
pub mod lifecycle_worker;
pub mod operation;
pub mod request;
pub mod service;
pub mod signing;
pub mod version_list_xml;

pub use crate::access::{AccessControl, BucketAccessCache};
pub use crate::front::{Front, FrontLimits};
pub use crate::host::BucketDomain;
pub use crate::service::{CoffreS3, FrontConfig};
