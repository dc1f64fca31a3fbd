//! Condition operators: StringEquals, StringNotEquals, StringLike, StringNotLike, IpAddress,
//! NotIpAddress and Bool, each over one or more keys whose values come from the request.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>

use std::collections::HashMap;
use std::net::IpAddr;

use crate::pattern::matches;
use crate::policy::PolicyError;

/// A condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Bool,
    IpAddress,
    NotIpAddress,
    StringEquals,
    StringLike,
    StringNotEquals,
    StringNotLike,
}

impl Operator {
    pub fn parse(name: &str) -> Result<Operator, PolicyError> {
        Ok(match name {
            "Bool" => Operator::Bool,
            "IpAddress" => Operator::IpAddress,
            "NotIpAddress" => Operator::NotIpAddress,
            "StringEquals" => Operator::StringEquals,
            "StringLike" => Operator::StringLike,
            "StringNotEquals" => Operator::StringNotEquals,
            "StringNotLike" => Operator::StringNotLike,
            other => return Err(PolicyError::new(format!("Policy has an invalid condition operator: {other}"))),
        })
    }

    /// Negated operators hold when the key is absent from the request (AWS semantics).
    fn negated(self) -> bool {
        matches!(self, Operator::NotIpAddress | Operator::StringNotEquals | Operator::StringNotLike)
    }
}

/// An IPv4 or IPv6 network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> (u128, u32) {
            match a {
                IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
                IpAddr::V6(v) => (u128::from(v), 128),
            }
        };
        let ((net, width), (candidate, candidate_width)) = (bits(self.addr), bits(ip));
        if width != candidate_width {
            return false;
        }
        let host_bits = width - u32::from(self.prefix);
        let mask = if host_bits >= 128 { 0 } else { u128::MAX << host_bits };
        (net & mask) == (candidate & mask)
    }
}

/// One `"Operator": { "key": [values] }` block, for one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub operator: Operator,
    /// Condition key, lowercased (keys are case-insensitive).
    pub key: String,
    pub values: Vec<String>,
}

impl Condition {
    /// Checks values that must have a shape (IP networks, booleans) when the policy is stored.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for v in &self.values {
            match self.operator {
                Operator::IpAddress | Operator::NotIpAddress if Cidr::parse(v).is_none() => {
                    return Err(PolicyError::new(format!("Invalid IP address or CIDR in condition {}: {v}", self.key)));
                }
                Operator::Bool if v != "true" && v != "false" => {
                    return Err(PolicyError::new(format!("Invalid boolean in condition {}: {v}", self.key)));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the condition holds for the request's context values.
    pub fn holds(&self, context: &HashMap<String, Vec<String>>) -> bool {
        let Some(actual) = context.get(&self.key) else { return self.operator.negated() };
        let any = |f: &dyn Fn(&str, &str) -> bool| actual.iter().any(|a| self.values.iter().any(|v| f(v, a)));
        match self.operator {
            Operator::StringEquals => any(&|v, a| v == a),
            Operator::StringNotEquals => !any(&|v, a| v == a),
            Operator::StringLike => any(&|v, a| matches(v, a, false)),
            Operator::StringNotLike => !any(&|v, a| matches(v, a, false)),
            Operator::Bool => any(&|v, a| v.eq_ignore_ascii_case(a)),
            Operator::IpAddress => any(&|v, a| ip_in(v, a)),
            Operator::NotIpAddress => !any(&|v, a| ip_in(v, a)),
        }
    }
}

fn ip_in(network: &str, ip: &str) -> bool {
    match (Cidr::parse(network), ip.parse::<IpAddr>()) {
        (Some(n), Ok(ip)) => n.contains(ip),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let n = Cidr::parse("192.168.1.0/24").unwrap();
        assert!(n.contains("192.168.1.77".parse().unwrap()));
        assert!(!n.contains("192.168.2.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::/32").unwrap().contains("2001:db8::5".parse().unwrap()));
        assert!(Cidr::parse("300.0.0.1/8").is_none());
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }
}
