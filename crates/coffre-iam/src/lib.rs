//! Coffre's authorisation core: AWS's JSON policy language (identity and bucket policies) and
//! its evaluation, as AWS does it: default deny, an explicit deny wins over any allow, and an
//! allow needs a statement whose principal, action, resource and conditions all match.
//! Evaluation is pure: the S3 front builds a [`RequestContext`] and asks for a [`Decision`].
//! The [`Directory`] holds who is who: tenants, users, access keys, admin tokens and
//! break-glass grants.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>

#![forbid(unsafe_code)]

mod condition;
pub mod directory;
mod pattern;
mod policy;

pub use crate::directory::{
    AccessKeyInfo, BOOTSTRAP_OPERATORS_MAX, BREAK_GLASS_COOLDOWN_S_DEFAULT, BREAK_GLASS_COOLDOWN_S_MAX, BreakGlass,
    Directory, DirectoryStorage, IamError, IamResult, KeyStatus, NewAccessKey, Principal, ROOT_OPERATOR, Role, Scope,
    Tenant, TokenGrant, User,
};
pub use crate::policy::{Decision, Effect, Policy, PolicyError, RequestContext, evaluate};
