//! The two-person rule: operators, how they come to exist, and break-glass access, which only
//! a second, independent operator can approve. The directory sees identities, not people, so
//! it keeps each operator's provenance and refuses an approver that may be the requester under
//! another name (docs/iam.md, "Break-glass trust model").

use super::*;

pub(super) fn check_cooldown(seconds: i64) -> IamResult<()> {
    if (0..=BREAK_GLASS_COOLDOWN_S_MAX).contains(&seconds) {
        Ok(())
    } else {
        Err(IamError::Invalid(format!(
            "the break-glass cool-down must be 0 to {BREAK_GLASS_COOLDOWN_S_MAX} seconds, not {seconds}"
        )))
    }
}

/// Whether `approver` may be the second person for what the operator `requester` asked for
/// (break-glass access, a new operator). The directory sees identities, not people, so it
/// refuses any approver that may be the requester under another name:
///
/// - root: the root credentials are a bootstrap identity, held by whoever installed the node;
/// - the requester itself;
/// - an operator the requester created or approved into existence, or one that created or
///   approved the requester: its creator saw its secret, and its approver vouched for it;
/// - a pending operator, or one active for less than the cool-down: its creation must have
///   been on the audit trail that long before it counts as a second person.
pub(super) fn check_second_person(
    state: &State,
    requester: &str,
    approver: &str,
    cooldown_s: i64,
    now: i64,
) -> IamResult<()> {
    let refuse = |why: String| Err(IamError::Forbidden(format!("two-person rule: {why}")));
    if approver == ROOT_OPERATOR {
        return refuse(
            "the root credentials are a bootstrap identity, not a person; they cannot approve (use an operator's own keys)"
                .to_owned(),
        );
    }
    if approver == requester {
        return refuse("the requester cannot approve their own request".to_owned());
    }
    let operator = |name: &str| state.users.get(&user_key(None, name));
    let Some(by) = operator(approver) else {
        return refuse(format!("{approver} is not an operator"));
    };
    let sponsors = |u: &User| [u.created_by.clone(), u.creation_approved_by.clone()];
    if sponsors(by).iter().flatten().any(|s| s == requester) {
        return refuse(format!(
            "{approver} was created or approved by {requester}, the requester, so they may be one person"
        ));
    }
    if let Some(asked) = operator(requester)
        && sponsors(asked).iter().flatten().any(|s| s == approver)
    {
        return refuse(format!(
            "{requester}, the requester, was created or approved by {approver}, so they may be one person"
        ));
    }
    let Some(since) = by.active_since_unix_s else {
        return refuse(format!("{approver} is still waiting for a second operator's approval"));
    };
    let ready = since.saturating_add(cooldown_s);
    if ready > now {
        return refuse(format!(
            "{approver} has been an active operator for less than the cool-down of {cooldown_s} s; it may approve from {ready} (Unix time)"
        ));
    }
    Ok(())
}

impl Directory {
    /// Sets how long an operator must have been active before it may approve break-glass
    /// access or a new operator (0 to [`BREAK_GLASS_COOLDOWN_S_MAX`] seconds).
    pub fn set_break_glass_cooldown_s(&self, seconds: i64) -> IamResult<()> {
        check_cooldown(seconds)?;
        self.cooldown_s.store(seconds, Ordering::Relaxed);
        Ok(())
    }

    /// How long an operator must have been active before it may approve, in seconds.
    pub fn break_glass_cooldown_s(&self) -> i64 {
        self.cooldown_s.load(Ordering::Relaxed)
    }

    /// Creates an operator at `requester`'s request. While at most
    /// [`BOOTSTRAP_OPERATORS_MAX`] − 1 operators exist besides root, the new one is active at
    /// once (bootstrap); after that only an operator other than root may ask, and the new one
    /// is pending (its keys do not authenticate) until a second operator approves it with
    /// [`Directory::approve_operator`].
    pub async fn create_operator(&self, requester: &Principal, name: &str) -> IamResult<User> {
        validate_user_name(name)?;
        if !requester.is_operator() {
            return Err(IamError::Forbidden("only operators create operators".into()));
        }
        let _serial = self.changes.lock().await;
        let operators = self.read().users.keys().filter(|(t, u)| t.is_empty() && u != ROOT_OPERATOR).count();
        let bootstrap = operators < BOOTSTRAP_OPERATORS_MAX;
        if !bootstrap && requester.user == ROOT_OPERATOR {
            return Err(IamError::Forbidden(format!(
                "the root credentials only bootstrap the first {BOOTSTRAP_OPERATORS_MAX} operators; \
                 an operator creates further ones, and a second operator approves them"
            )));
        }
        let now = now_unix_s();
        let user = User {
            tenant: None,
            name: name.to_owned(),
            role: Role::Operator,
            policies: BTreeMap::new(),
            created_unix_s: now,
            created_by: Some(requester.user.clone()),
            creation_approved_by: None,
            active_since_unix_s: bootstrap.then_some(now),
        };
        self.insert_user(user).await
    }

    /// Approves a pending operator: `approver` must be a second person for the operator that
    /// created it (the same rule as for break-glass, [`Directory::approve_break_glass`]). The
    /// operator is active from now.
    pub async fn approve_operator(&self, approver: &Principal, name: &str) -> IamResult<User> {
        if !approver.is_operator() {
            return Err(IamError::Forbidden("only operators approve operators".into()));
        }
        let _serial = self.changes.lock().await;
        let key = user_key(None, name);
        let mut user =
            self.read().users.get(&key).cloned().ok_or_else(|| IamError::NotFound(format!("operator {name}")))?;
        if !user.is_pending() {
            return Err(IamError::Invalid(format!("operator {name} is already active")));
        }
        let now = now_unix_s();
        let requester = user.created_by.clone().unwrap_or_default();
        check_second_person(&self.read(), &requester, &approver.user, self.break_glass_cooldown_s(), now)?;
        user.creation_approved_by = Some(approver.user.clone());
        user.active_since_unix_s = Some(now);
        self.persist(vec![(format!("user/{}/{}", key.0, key.1), Some(encode(&user)))]).await?;
        self.write().users.insert(key, user.clone());
        Ok(user)
    }

    /// Records an operator's request to read a tenant's data; nothing is granted until a
    /// different operator approves it.
    pub async fn request_break_glass(
        &self,
        requester: &Principal,
        tenant: &str,
        bucket: Option<&str>,
        reason: &str,
        duration_s: i64,
    ) -> IamResult<BreakGlass> {
        if !requester.is_operator() {
            return Err(IamError::Forbidden("only operators request break-glass access".into()));
        }
        if requester.user == ROOT_OPERATOR {
            return Err(IamError::Forbidden(
                "two-person rule: the root credentials are a bootstrap identity, not a person; \
                 they cannot request break-glass access (use an operator's own keys)"
                    .into(),
            ));
        }
        if reason.trim().is_empty() {
            return Err(IamError::Invalid("a break-glass request needs a reason".into()));
        }
        if !(60..=86_400).contains(&duration_s) {
            return Err(IamError::Invalid("break-glass access lasts 1 min to 24 h".into()));
        }
        let _serial = self.changes.lock().await;
        if !self.read().tenants.contains_key(tenant) {
            return Err(IamError::NotFound(format!("tenant {tenant}")));
        }
        let request = BreakGlass {
            id: format!("bg-{}", random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 12)),
            requested_by: requester.user.clone(),
            tenant: tenant.to_owned(),
            bucket: bucket.map(str::to_owned),
            reason: reason.to_owned(),
            duration_s,
            requested_unix_s: now_unix_s(),
            approved_by: None,
            expires_unix_s: None,
        };
        self.persist(vec![(format!("break-glass/{}", request.id), Some(encode(&request)))]).await?;
        self.write().break_glass.insert(request.id.clone(), request.clone());
        Ok(request)
    }

    /// Approves a break-glass request, once, by a second person: not root, not the requester,
    /// not an operator the requester created or approved (nor one that created or approved
    /// the requester), and one active for at least the cool-down.
    pub async fn approve_break_glass(&self, approver: &Principal, id: &str) -> IamResult<BreakGlass> {
        if !approver.is_operator() {
            return Err(IamError::Forbidden("only operators approve break-glass access".into()));
        }
        let _serial = self.changes.lock().await;
        let mut request =
            self.read().break_glass.get(id).cloned().ok_or_else(|| IamError::NotFound(format!("break-glass {id}")))?;
        let now = now_unix_s();
        check_second_person(&self.read(), &request.requested_by, &approver.user, self.break_glass_cooldown_s(), now)?;
        if request.approved_by.is_some() {
            return Err(IamError::Invalid(format!("break-glass {id} was already approved")));
        }
        request.approved_by = Some(approver.user.clone());
        request.expires_unix_s = Some(now + request.duration_s);
        self.persist(vec![(format!("break-glass/{id}"), Some(encode(&request)))]).await?;
        self.write().break_glass.insert(id.to_owned(), request.clone());
        Ok(request)
    }

    /// All break-glass requests, newest first.
    pub fn break_glass_requests(&self) -> Vec<BreakGlass> {
        let mut all: Vec<_> = self.read().break_glass.values().cloned().collect();
        all.sort_by_key(|b| std::cmp::Reverse(b.requested_unix_s));
        all
    }

    /// The approved, unexpired grant letting `operator` read `bucket` of `tenant`, if any.
    pub fn break_glass_grant(&self, operator: &Principal, tenant: &str, bucket: &str) -> Option<BreakGlass> {
        // Root's grants can only be from before the two-person rules (issue 14): none counts.
        if !operator.is_operator() || operator.user == ROOT_OPERATOR {
            return None;
        }
        let now = now_unix_s();
        self.read()
            .break_glass
            .values()
            .find(|g| {
                g.requested_by == operator.user
                    && g.tenant == tenant
                    && g.bucket.as_deref().is_none_or(|b| b == bucket)
                    && g.expires_unix_s.is_some_and(|e| e > now)
            })
            .cloned()
    }
}
