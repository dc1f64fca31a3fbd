//! Coffre's authorisation core: AWS's JSON policy language (identity and bucket policies) and
//! its evaluation, as AWS does it: default deny, an explicit deny wins over any allow, and an
//! allow needs a statement whose principal, action, resource and conditions all match.
//! Pure functions, no IO: the S3 front builds a [`RequestContext`] and asks for a [`Decision`].
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>

#![forbid(unsafe_code)]

mod condition;
mod pattern;
mod policy;

pub use crate::policy::{Decision, Effect, Policy, PolicyError, RequestContext, evaluate};
