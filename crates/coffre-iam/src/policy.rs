//! Policies: parsing (with the precise complaint S3 gives as MalformedPolicy) and evaluation.

use std::collections::HashMap;

use serde_json::Value;

use crate::condition::{Condition, Operator};
use crate::pattern::matches;

/// A policy that is not valid, with a message that says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    /// What is wrong.
    pub message: String,
}

impl PolicyError {
    pub(crate) fn new(message: impl Into<String>) -> PolicyError {
        PolicyError { message: message.into() }
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Refuses, whatever else grants.
    Deny,
}

#[derive(Debug, Clone, PartialEq)]
enum Principals {
    /// `"*"`: anyone, including anonymous callers.
    Anyone,
    /// Principal identifiers (ARNs or ids), matched exactly.
    Listed(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    effect: Effect,
    /// `None`: an identity policy (the principal is whoever it is attached to).
    principal: Option<Principals>,
    actions: Vec<String>,
    not_action: bool,
    resources: Vec<String>,
    not_resource: bool,
    conditions: Vec<Condition>,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// What a request asks, as policies see it.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The caller's identifier (e.g. `arn:aws:iam::acme:user/alice`); `None` if anonymous.
    pub principal: Option<String>,
    /// The caller's account (tenant): a policy may name it as `arn:aws:iam::<tenant>:root` or
    /// as the bare tenant name, meaning every user of that tenant.
    pub account: Option<String>,
    /// The action, e.g. `s3:GetObject`.
    pub action: String,
    /// The resource ARN, e.g. `arn:aws:s3:::bucket/key`.
    pub resource: String,
    /// Condition keys (lowercase) and their values: `aws:sourceip`, `s3:prefix`, ...
    pub context: HashMap<String, Vec<String>>,
}

/// The outcome of evaluating policies for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows it and none denies it.
    Allow,
    /// A statement denies it.
    ExplicitDeny,
    /// Nothing allows it (default deny).
    ImplicitDeny,
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| PolicyError::new(format!("{what} must be strings"))))
            .collect(),
        _ => Err(PolicyError::new(format!("{what} must be a string or a non-empty array of strings"))),
    }
}

fn condition_values(v: &Value, key: &str) -> Result<Vec<String>, PolicyError> {
    let one = |x: &Value| match x {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(PolicyError::new(format!("Invalid value for condition key {key}"))),
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn parse_statement(v: &Value, index: usize) -> Result<Statement, PolicyError> {
    let obj = v.as_object().ok_or_else(|| PolicyError::new(format!("Statement {index} must be an object")))?;
    const KNOWN: [&str; 9] =
        ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];
    if let Some(unknown) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(PolicyError::new(format!("Policy has an unknown field: {unknown}")));
    }
    if obj.contains_key("NotPrincipal") {
        return Err(PolicyError::new("NotPrincipal is not supported"));
    }
    let effect = match obj.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => return Err(PolicyError::new(format!("Invalid effect: {other}"))),
        None => return Err(PolicyError::new("Missing required field Effect")),
    };
    let principal = match obj.get("Principal") {
        None => None,
        Some(Value::String(s)) if s == "*" => Some(Principals::Anyone),
        Some(Value::Object(m)) => {
            let aws =
                m.get("AWS").ok_or_else(|| PolicyError::new("Invalid principal: expected \"*\" or {\"AWS\": ...}"))?;
            let listed = strings(aws, "Principal AWS values")?;
            if listed.iter().any(|p| p == "*") { Some(Principals::Anyone) } else { Some(Principals::Listed(listed)) }
        }
        Some(_) => return Err(PolicyError::new("Invalid principal: expected \"*\" or {\"AWS\": ...}")),
    };
    let (actions, not_action) = match (obj.get("Action"), obj.get("NotAction")) {
        (Some(a), None) => (strings(a, "Action")?, false),
        (None, Some(a)) => (strings(a, "NotAction")?, true),
        (Some(_), Some(_)) => return Err(PolicyError::new("A statement cannot have both Action and NotAction")),
        (None, None) => return Err(PolicyError::new("Missing required field Action")),
    };
    for a in &actions {
        if a != "*" && !a.to_ascii_lowercase().starts_with("s3:") {
            return Err(PolicyError::new(format!("Policy has invalid action: {a}")));
        }
    }
    let (resources, not_resource) = match (obj.get("Resource"), obj.get("NotResource")) {
        (Some(r), None) => (strings(r, "Resource")?, false),
        (None, Some(r)) => (strings(r, "NotResource")?, true),
        (Some(_), Some(_)) => return Err(PolicyError::new("A statement cannot have both Resource and NotResource")),
        (None, None) => return Err(PolicyError::new("Missing required field Resource")),
    };
    for r in &resources {
        if r != "*" && !r.starts_with("arn:aws:s3:::") {
            return Err(PolicyError::new(format!("Policy has invalid resource: {r}")));
        }
    }
    let mut conditions = Vec::new();
    if let Some(c) = obj.get("Condition") {
        let ops = c.as_object().ok_or_else(|| PolicyError::new("Condition must be an object"))?;
        for (op, block) in ops {
            let operator = Operator::parse(op)?;
            let keys =
                block.as_object().ok_or_else(|| PolicyError::new(format!("Condition {op} must be an object")))?;
            for (key, values) in keys {
                let condition =
                    Condition { operator, key: key.to_ascii_lowercase(), values: condition_values(values, key)? };
                condition.validate()?;
                conditions.push(condition);
            }
        }
    }
    Ok(Statement { effect, principal, actions, not_action, resources, not_resource, conditions })
}

impl Policy {
    /// Parses a policy document.
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        let doc: Value =
            serde_json::from_str(json).map_err(|e| PolicyError::new(format!("Policies must be valid JSON: {e}")))?;
        let obj = doc.as_object().ok_or_else(|| PolicyError::new("A policy must be a JSON object"))?;
        match obj.get("Version").and_then(Value::as_str) {
            None | Some("2012-10-17") | Some("2008-10-17") => {}
            Some(v) => return Err(PolicyError::new(format!("The policy must contain a valid version string: {v}"))),
        }
        let statements = match obj.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => {
                items.iter().enumerate().map(|(i, s)| parse_statement(s, i)).collect()
            }
            Some(single @ Value::Object(_)) => Ok(vec![parse_statement(single, 0)?]),
            _ => Err(PolicyError::new("Missing required field Statement")),
        }?;
        Ok(Policy { statements })
    }
}

impl Policy {
    /// Whether the policy grants anything to everyone (S3's "public" policy): an Allow
    /// statement whose principal is `*` and that no source-IP condition narrows.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.principal == Some(Principals::Anyone)
                && !s.conditions.iter().any(|c| c.key == "aws:sourceip")
        })
    }

    /// Whether any condition uses a key starting with `prefix` (lowercase), so that the caller
    /// fetches such values (object tags) only when a policy needs them.
    pub fn uses_condition_key(&self, prefix: &str) -> bool {
        self.statements.iter().flat_map(|s| &s.conditions).any(|c| c.key.starts_with(prefix))
    }
}

impl Statement {
    fn applies(&self, req: &RequestContext) -> bool {
        let principal_ok = match &self.principal {
            None => true,
            Some(Principals::Anyone) => true,
            Some(Principals::Listed(ids)) => ids.iter().any(|i| {
                req.principal.as_deref() == Some(i.as_str())
                    || req.account.as_deref().is_some_and(|a| {
                        i == a || i.strip_prefix("arn:aws:iam::").and_then(|r| r.strip_suffix(":root")) == Some(a)
                    })
            }),
        };
        let action_listed = self.actions.iter().any(|a| matches(a, &req.action, true));
        let resource_listed = self.resources.iter().any(|r| matches(r, &req.resource, false));
        principal_ok
            && action_listed != self.not_action
            && resource_listed != self.not_resource
            && self.conditions.iter().all(|c| c.holds(&req.context))
    }
}

/// Evaluates all policies that bear on a request, as AWS does: an explicit deny anywhere wins,
/// otherwise any allow grants, otherwise the request is denied by default.
pub fn evaluate(policies: &[&Policy], req: &RequestContext) -> Decision {
    let mut allowed = false;
    for statement in policies.iter().flat_map(|p| &p.statements) {
        if statement.applies(req) {
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
    }
    if allowed { Decision::Allow } else { Decision::ImplicitDeny }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(action: &str, resource: &str) -> RequestContext {
        RequestContext {
            principal: Some("arn:aws:iam::acme:user/alice".into()),
            account: Some("acme".into()),
            action: action.into(),
            resource: resource.into(),
            context: HashMap::new(),
        }
    }

    #[test]
    fn default_deny_allow_and_explicit_deny() {
        let allow = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::b/*"}]}"#,
        )
        .unwrap();
        let deny = Policy::parse(
            r#"{"Statement":{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/secret/*"}}"#,
        )
        .unwrap();
        assert_eq!(evaluate(&[], &req("s3:GetObject", "arn:aws:s3:::b/x")), Decision::ImplicitDeny);
        assert_eq!(evaluate(&[&allow], &req("s3:GetObject", "arn:aws:s3:::b/x")), Decision::Allow);
        assert_eq!(evaluate(&[&allow], &req("s3:PutObject", "arn:aws:s3:::b/x")), Decision::ImplicitDeny);
        assert_eq!(evaluate(&[&allow, &deny], &req("s3:GetObject", "arn:aws:s3:::b/secret/k")), Decision::ExplicitDeny);
    }

    #[test]
    fn not_action_principal_and_conditions() {
        let p = Policy::parse(
            r#"{"Statement":[
                {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::acme:user/alice"]},"NotAction":"s3:Delete*","Resource":"*",
                 "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:SecureTransport":true},
                              "StringLike":{"s3:prefix":["home/alice/*"]}}}]}"#,
        )
        .unwrap();
        let mut r = req("s3:ListBucket", "arn:aws:s3:::b");
        r.context.insert("aws:sourceip".into(), vec!["10.1.2.3".into()]);
        r.context.insert("aws:securetransport".into(), vec!["true".into()]);
        r.context.insert("s3:prefix".into(), vec!["home/alice/docs".into()]);
        assert_eq!(evaluate(&[&p], &r), Decision::Allow);
        let mut other_ip = r.clone();
        other_ip.context.insert("aws:sourceip".into(), vec!["192.168.0.1".into()]);
        assert_eq!(evaluate(&[&p], &other_ip), Decision::ImplicitDeny);
        let mut delete = r.clone();
        delete.action = "s3:DeleteObject".into();
        assert_eq!(evaluate(&[&p], &delete), Decision::ImplicitDeny);
        let mut bob = r.clone();
        bob.principal = Some("arn:aws:iam::acme:user/bob".into());
        assert_eq!(evaluate(&[&p], &bob), Decision::ImplicitDeny);
        let mut whole_tenant = p.clone();
        whole_tenant.statements[0].principal = Some(Principals::Listed(vec!["arn:aws:iam::acme:root".into()]));
        assert_eq!(evaluate(&[&whole_tenant], &bob), Decision::Allow);
        let mut other_tenant = bob.clone();
        other_tenant.account = Some("globex".into());
        other_tenant.principal = Some("arn:aws:iam::globex:user/bob".into());
        assert_eq!(evaluate(&[&whole_tenant], &other_tenant), Decision::ImplicitDeny);
        let mut anonymous = r;
        anonymous.principal = None;
        anonymous.account = None;
        assert_eq!(evaluate(&[&p], &anonymous), Decision::ImplicitDeny);
    }

    #[test]
    fn string_not_equals_holds_when_the_key_is_absent() {
        let p = Policy::parse(
            r#"{"Statement":[{"Effect":"Deny","Action":"s3:PutObject","Resource":"*",
                "Condition":{"StringNotEquals":{"s3:x-amz-server-side-encryption":"aws:kms"}}}]}"#,
        )
        .unwrap();
        assert_eq!(evaluate(&[&p], &req("s3:PutObject", "arn:aws:s3:::b/k")), Decision::ExplicitDeny);
        let mut kms = req("s3:PutObject", "arn:aws:s3:::b/k");
        kms.context.insert("s3:x-amz-server-side-encryption".into(), vec!["aws:kms".into()]);
        assert_eq!(evaluate(&[&p], &kms), Decision::ImplicitDeny);
    }

    #[test]
    fn malformed_policies_say_what_is_wrong() {
        let cases = [
            ("not json", "valid JSON"),
            (r#"{"Statement":[{"Action":"s3:*","Resource":"*"}]}"#, "Effect"),
            (r#"{"Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}"#, "Invalid effect"),
            (r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#, "Action"),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}]}"#,
                "both Action",
            ),
            (r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#, "Resource"),
            (r#"{"Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#, "invalid action"),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Whatever":{"k":"v"}}}]}"#,
                "condition operator",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"nope"}}}]}"#,
                "Invalid IP",
            ),
            (r#"{"Version":"2099-01-01","Statement":[]}"#, "version"),
            (r#"{"Statement":[]}"#, "Statement"),
        ];
        for (json, expected) in cases {
            let err = Policy::parse(json).unwrap_err();
            assert!(err.message.contains(expected), "{json}: {}", err.message);
        }
    }

    /// Property: over random policies and requests, a Deny statement that applies always wins,
    /// and adding an Allow statement never removes access. The seed is printed for replay.
    #[test]
    fn deny_wins_and_allow_is_monotonic() {
        use rand::{Rng, SeedableRng};
        let seed: u64 = rand::random();
        println!("seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let actions = ["s3:*", "s3:Get*", "s3:GetObject", "s3:PutObject", "s3:List*", "*"];
        let resources = ["*", "arn:aws:s3:::b/*", "arn:aws:s3:::b/a/*", "arn:aws:s3:::c/*", "arn:aws:s3:::b"];
        let statement = |rng: &mut rand::rngs::StdRng, effect: &str| {
            format!(
                r#"{{"Effect":"{effect}","{}":"{}","Resource":"{}"}}"#,
                if rng.random_bool(0.2) { "NotAction" } else { "Action" },
                actions[rng.random_range(0..actions.len())],
                resources[rng.random_range(0..resources.len())]
            )
        };
        let requests = [
            req("s3:GetObject", "arn:aws:s3:::b/a/1"),
            req("s3:PutObject", "arn:aws:s3:::b/x"),
            req("s3:ListBucket", "arn:aws:s3:::b"),
            req("s3:DeleteObject", "arn:aws:s3:::c/k"),
        ];
        for _ in 0..500 {
            let n = rng.random_range(1..5);
            let mut base = Vec::new();
            for _ in 0..n {
                let effect = if rng.random_bool(0.3) { "Deny" } else { "Allow" };
                base.push(statement(&mut rng, effect));
            }
            let policy = Policy::parse(&format!(r#"{{"Statement":[{}]}}"#, base.join(","))).unwrap();
            let extra_allow = statement(&mut rng, "Allow");
            let more = Policy::parse(&format!(r#"{{"Statement":[{},{extra_allow}]}}"#, base.join(","))).unwrap();
            for r in &requests {
                let before = evaluate(&[&policy], r);
                let after = evaluate(&[&more], r);
                if before == Decision::Allow {
                    assert_eq!(after, Decision::Allow, "adding an Allow removed access (seed {seed})");
                }
                let denies = policy.statements.iter().any(|s| s.effect == Effect::Deny && s.applies(r));
                assert_eq!(denies, before == Decision::ExplicitDeny, "a deny must win (seed {seed})");
            }
        }
    }
}
