//! Who may do what: SigV4 secret lookup in the identity directory and the authorisation of
//! every S3 request, as AWS evaluates it, with tenants as accounts:
//!
//! - an explicit Deny in the caller's identity policies or in the bucket policy always wins;
//! - within the owning tenant, an Allow in either grants (tenant admins hold an implicit
//!   Allow on their tenant's buckets);
//! - across tenants, the bucket policy must grant and the caller's own policies must allow;
//! - anonymous callers get only what a public bucket policy or a `public-read` ACL gives,
//!   both subject to the bucket's PublicAccessBlock;
//! - operators run the service but get no tenant data, except through an approved,
//!   unexpired break-glass grant, which is read-only and logged on every use.
//!
//! Bucket access settings are cached in memory (this runs on every request) and invalidated
//! by the operations that change them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use coffre_audit::{Actor, AuditNote, BreakGlassUse};
use coffre_iam::{Decision, Directory, IamError, Policy, Principal, RequestContext, Role, evaluate};
use coffre_store::{BucketName, ObjectKey, PermitIssuer, PublicAccessBlock, Store, StoreError, VersionId};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{
    CopyObjectInput, CopySource, CreateMultipartUploadInput, DeleteObjectInput, DeleteObjectTaggingInput,
    GetObjectAclInput, GetObjectInput, GetObjectTaggingInput, HeadObjectInput, PutObjectAclInput, PutObjectInput,
    PutObjectRetentionInput, PutObjectTaggingInput, UploadPartCopyInput,
};
use s3s::path::S3Path;
use s3s::{S3Request, S3Result, s3_error};

use crate::authorised::{Authorised, CopySourceName};
use crate::errors::StoreResultExt;
use crate::front::Transport;
use crate::operation::S3Op;

/// The authenticated caller of a request (`None`: anonymous), for the operations that need it
/// (bucket ownership, listings).
#[derive(Clone)]
pub struct Caller(pub Option<Arc<Principal>>);

/// A bucket's access settings, as authorisation needs them.
pub struct BucketAccess {
    /// The owning tenant.
    pub owner: String,
    pub policy: Option<Arc<Policy>>,
    pub public_read: bool,
    pub public_access_block: PublicAccessBlock,
    /// Where its server access logs go (read by log delivery for every request's record).
    pub logging: Option<coffre_store::records::BucketLogging>,
}

/// Tenant of buckets created before tenants existed.
pub const LEGACY_OWNER: &str = "default";

/// Cache of [`BucketAccess`] by bucket name.
#[derive(Default)]
pub struct BucketAccessCache {
    entries: RwLock<HashMap<String, Arc<BucketAccess>>>,
    /// Bumped by every invalidation, so that a read racing a change never caches the old state.
    generation: AtomicU64,
}

impl BucketAccessCache {
    /// The settings of `bucket`, or `None` if it does not exist.
    pub fn get(&self, store: &Store, bucket: &BucketName) -> S3Result<Option<Arc<BucketAccess>>> {
        if let Some(hit) = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(bucket.as_str()) {
            return Ok(Some(Arc::clone(hit)));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let record = match store.bucket(bucket) {
            Ok(r) => r,
            Err(StoreError::NoSuchBucket) => return Ok(None),
            Err(e) => return Err(e).s3(),
        };
        // A stored policy was valid when it was put; if it no longer parses, fail closed.
        let policy = match record.policy.as_deref().map(Policy::parse).transpose() {
            Ok(p) => p.map(Arc::new),
            Err(e) => {
                tracing::error!(%bucket, error = %e, "stored bucket policy does not parse; denying");
                return Err(s3_error!(AccessDenied, "Access Denied"));
            }
        };
        let access = Arc::new(BucketAccess {
            owner: record.owner.unwrap_or_else(|| LEGACY_OWNER.to_owned()),
            policy,
            public_read: record.public_read,
            public_access_block: record.public_access_block.unwrap_or_default(),
            logging: record.logging,
        });
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) == generation {
            entries.insert(bucket.as_str().to_owned(), Arc::clone(&access));
        }
        Ok(Some(access))
    }

    /// Forgets `bucket`'s settings after they changed.
    fn forget(&self, bucket: &str) {
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(bucket);
    }

    /// A cache kept in step with `store`: the engine tells it of every committed change to a
    /// bucket's record (before the change is acknowledged), whatever made it: an S3 request,
    /// the admin API, or later a replicated log.
    pub fn follow(store: &Store) -> Arc<BucketAccessCache> {
        let cache = Arc::new(BucketAccessCache::default());
        let follower = Arc::clone(&cache);
        store.observe_buckets(Arc::new(move |bucket, _| follower.forget(bucket)));
        cache
    }
}

/// SigV4 secrets and request authorisation over the identity directory.
#[derive(Clone)]
pub struct AccessControl {
    directory: Arc<Directory>,
    store: Arc<Store>,
    buckets: Arc<BucketAccessCache>,
    /// Makes the engine's permits for what this authorises (and nothing else in the S3 layer
    /// can).
    permits: PermitIssuer,
}

impl AccessControl {
    /// Access control over `directory`, for buckets of `store`, issuing `permits`.
    pub fn new(
        directory: Arc<Directory>,
        store: Arc<Store>,
        buckets: Arc<BucketAccessCache>,
        permits: PermitIssuer,
    ) -> AccessControl {
        AccessControl { directory, store, buckets, permits }
    }
}

#[async_trait::async_trait]
impl S3Auth for AccessControl {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.directory.secret_for(access_key) {
            Ok((secret, _)) => Ok(SecretKey::from(secret.as_str())),
            Err(IamError::KeyInactive(_)) => {
                Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided is not active."))
            }
            Err(IamError::KeyExpired(_)) => {
                Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided has expired."))
            }
            Err(_) => {
                Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."))
            }
        }
    }
}

/// Read-only actions an approved break-glass grant allows.
const BREAK_GLASS_ACTIONS: [&str; 8] = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetObjectTagging",
    "s3:GetObjectAttributes",
    "s3:GetBucketLocation",
    "s3:GetObjectAcl",
];

/// An allowed question: the bucket's owning tenant (if the bucket exists) and the break-glass
/// grant that allowed it, if one did.
struct Decided {
    owner: Option<String>,
    break_glass: Option<BreakGlassUse>,
}

/// What one authorisation question is about.
struct Question<'a> {
    action: String,
    bucket: &'a BucketName,
    key: Option<&'a ObjectKey>,
    context: HashMap<String, Vec<String>>,
    /// A canned ACL the request sets (`x-amz-acl`).
    sets_public_acl: bool,
}

fn denied() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

impl AccessControl {
    fn caller(&self, cx: &S3AccessContext<'_>) -> S3Result<Option<Arc<Principal>>> {
        match cx.credentials() {
            None => Ok(None),
            Some(c) => self.directory.principal_for(&c.access_key).map(Some).ok_or_else(denied),
        }
    }

    /// Decides one question for `caller`; `Ok` means allowed, with the break-glass grant that
    /// allowed it if an operator's grant did.
    fn decide(&self, caller: Option<&Principal>, q: &Question<'_>) -> S3Result<Decided> {
        let Some(bucket) = self.buckets.get(&self.store, q.bucket)? else {
            // S3 answers NoSuchBucket to anyone; the operation will.
            return Ok(Decided { owner: None, break_glass: None });
        };
        let owner = Some(bucket.owner.clone());
        let pab = bucket.public_access_block;
        if q.sets_public_acl && pab.block_public_acls {
            return Err(denied());
        }
        let resource = match q.key {
            Some(k) => format!("arn:aws:s3:::{}/{k}", q.bucket),
            None => format!("arn:aws:s3:::{}", q.bucket),
        };
        let mut request = RequestContext {
            principal: caller.map(|c| c.arn.clone()),
            account: caller.and_then(|c| c.tenant.clone()),
            action: q.action.clone(),
            resource,
            context: q.context.clone(),
        };
        if let Some(c) = caller {
            request.context.insert("aws:username".into(), vec![c.user.clone()]);
        }
        let same_tenant = caller.and_then(|c| c.tenant.as_deref()) == Some(bucket.owner.as_str());
        let identity_policies: Vec<&Policy> = match caller {
            Some(c) if c.tenant.is_some() => c.policies.iter().map(Arc::as_ref).collect(),
            _ => Vec::new(),
        };
        let bucket_policy: Vec<&Policy> = bucket.policy.as_deref().into_iter().collect();
        if let Some(k) = q.key
            && identity_policies.iter().chain(&bucket_policy).any(|p| p.uses_condition_key("s3:existingobjecttag/"))
            && let Ok(object) = self.store.object(q.bucket, k, None)
        {
            for (name, value) in &object.record.attributes.tags {
                request
                    .context
                    .insert(format!("s3:existingobjecttag/{}", name.to_ascii_lowercase()), vec![value.clone()]);
            }
        }
        let identity = evaluate(&identity_policies, &request);
        let mut by_bucket = evaluate(&bucket_policy, &request);
        if identity == Decision::ExplicitDeny || by_bucket == Decision::ExplicitDeny {
            return Err(denied());
        }
        // RestrictPublicBuckets: a public policy grants only within the owning tenant.
        if pab.restrict_public_buckets && !same_tenant && bucket.policy.as_ref().is_some_and(|p| p.is_public()) {
            by_bucket = Decision::ImplicitDeny;
        }
        let mut break_glass = None;
        let allowed = match caller {
            Some(c) if c.role == Role::Operator => {
                by_bucket == Decision::Allow || {
                    break_glass = self.break_glass(c, &bucket.owner, q);
                    break_glass.is_some()
                }
            }
            Some(c) if same_tenant => {
                c.role == Role::Admin || identity == Decision::Allow || by_bucket == Decision::Allow
            }
            Some(c) => by_bucket == Decision::Allow && (c.role == Role::Admin || identity == Decision::Allow),
            None => by_bucket == Decision::Allow,
        };
        if allowed || self.public_acl_allows(&bucket, q) { Ok(Decided { owner, break_glass }) } else { Err(denied()) }
    }

    fn break_glass(&self, operator: &Principal, owner: &str, q: &Question<'_>) -> Option<BreakGlassUse> {
        if !BREAK_GLASS_ACTIONS.contains(&q.action.as_str()) {
            return None;
        }
        let grant = self.directory.break_glass_grant(operator, owner, q.bucket.as_str())?;
        tracing::warn!(
            target: "coffre::break_glass",
            grant = %grant.id,
            operator = %operator.user,
            approved_by = grant.approved_by.as_deref().unwrap_or(""),
            tenant = %owner,
            bucket = %q.bucket,
            key = q.key.map_or("", ObjectKey::as_str),
            action = %q.action,
            "break-glass data access"
        );
        Some(BreakGlassUse { grant: grant.id, approved_by: grant.approved_by.unwrap_or_default() })
    }

    /// `public-read` ACLs: the bucket's lets anyone list it, an object's lets anyone read it.
    fn public_acl_allows(&self, bucket: &BucketAccess, q: &Question<'_>) -> bool {
        if bucket.public_access_block.ignore_public_acls {
            return false;
        }
        match (q.action.as_str(), q.key) {
            ("s3:ListBucket", None) => bucket.public_read,
            ("s3:GetObject" | "s3:GetObjectVersion", Some(k)) => {
                self.store.object(q.bucket, k, None).is_ok_and(|o| o.record.attributes.public_read)
            }
            _ => false,
        }
    }
}

/// Condition keys of the connection: `aws:SecureTransport` and `aws:SourceIp`.
fn transport_context(transport: Option<Transport>) -> HashMap<String, Vec<String>> {
    let mut context = HashMap::new();
    if let Some(t) = transport {
        context.insert("aws:securetransport".to_owned(), vec![t.secure.to_string()]);
        if let Some(ip) = t.peer {
            context.insert("aws:sourceip".to_owned(), vec![ip.to_string()]);
        }
    }
    context
}

/// Condition keys of the request itself.
fn request_context(
    uri: &http::Uri,
    headers: &http::HeaderMap,
    transport: Option<Transport>,
) -> HashMap<String, Vec<String>> {
    let mut context = transport_context(transport);
    if let Some(query) = uri.query() {
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let key = match name.as_ref() {
                "prefix" => "s3:prefix",
                "delimiter" => "s3:delimiter",
                "max-keys" => "s3:max-keys",
                _ => continue,
            };
            context.insert(key.to_owned(), vec![value.into_owned()]);
        }
    }
    for (header, key) in [
        ("x-amz-server-side-encryption", "s3:x-amz-server-side-encryption"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "s3:x-amz-server-side-encryption-aws-kms-key-id"),
        ("x-amz-acl", "s3:x-amz-acl"),
        ("x-amz-copy-source", "s3:x-amz-copy-source"),
    ] {
        if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) {
            context.insert(key.to_owned(), vec![v.to_owned()]);
        }
    }
    context
}

#[async_trait::async_trait]
impl S3Access for AccessControl {
    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        let i = &req.input;
        let (retention, hold) = (
            i.object_lock_mode.is_some() || i.object_lock_retain_until_date.is_some(),
            i.object_lock_legal_hold_status.is_some(),
        );
        self.lock_actions((retention, hold), &req.uri, &req.headers, &req.extensions)?;
        self.copy_source_read(&req.input.copy_source, &req.uri, &req.headers, &mut req.extensions)
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        self.copy_source_read(&req.input.copy_source, &req.uri, &req.headers, &mut req.extensions)
    }

    // A request naming a version needs the action for versions, as in AWS.
    async fn get_object(&self, req: &mut S3Request<GetObjectInput>) -> S3Result<()> {
        let named = req.input.version_id.is_some();
        self.version_action(named, "s3:GetObjectVersion", &req.uri, &req.headers, &mut req.extensions)
    }

    async fn head_object(&self, req: &mut S3Request<HeadObjectInput>) -> S3Result<()> {
        let named = req.input.version_id.is_some();
        self.version_action(named, "s3:GetObjectVersion", &req.uri, &req.headers, &mut req.extensions)
    }

    async fn delete_object(&self, req: &mut S3Request<DeleteObjectInput>) -> S3Result<()> {
        let named = req.input.version_id.is_some();
        self.version_action(named, "s3:DeleteObjectVersion", &req.uri, &req.headers, &mut req.extensions)?;
        let asked = req.input.bypass_governance_retention == Some(true);
        self.governance_bypass(asked, &req.uri, &req.headers, &mut req.extensions);
        Ok(())
    }

    async fn put_object_retention(&self, req: &mut S3Request<PutObjectRetentionInput>) -> S3Result<()> {
        let asked = req.input.bypass_governance_retention == Some(true);
        self.governance_bypass(asked, &req.uri, &req.headers, &mut req.extensions);
        Ok(())
    }

    async fn create_multipart_upload(&self, req: &mut S3Request<CreateMultipartUploadInput>) -> S3Result<()> {
        let i = &req.input;
        let retention = i.object_lock_mode.is_some() || i.object_lock_retain_until_date.is_some();
        let hold = i.object_lock_legal_hold_status.is_some();
        self.lock_actions((retention, hold), &req.uri, &req.headers, &req.extensions)
    }

    async fn put_object(&self, req: &mut S3Request<PutObjectInput>) -> S3Result<()> {
        let i = &req.input;
        let (retention, hold) = (
            i.object_lock_mode.is_some() || i.object_lock_retain_until_date.is_some(),
            i.object_lock_legal_hold_status.is_some(),
        );
        self.lock_actions((retention, hold), &req.uri, &req.headers, &req.extensions)
    }

    async fn get_object_tagging(&self, req: &mut S3Request<GetObjectTaggingInput>) -> S3Result<()> {
        let named = req.input.version_id.is_some();
        self.version_action(named, "s3:GetObjectVersionTagging", &req.uri, &req.headers, &mut req.extensions)
    }

    async fn put_object_tagging(&self, req: &mut S3Request<PutObjectTaggingInput>) -> S3Result<()> {
        let named = req.input.version_id.is_some();
        self.version_action(named, "s3:PutObjectVersionTagging", &req.uri, &req.headers, &mut req.extensions)
    }

    async fn delete_object_tagging(&self, req: &mut S3Request<DeleteObjectTaggingInput>) -> S3Result<()> {
        let named = req.input.version_id.is_some();
        self.version_action(named, "s3:DeleteObjectVersionTagging", &req.uri, &req.headers, &mut req.extensions)
    }

    async fn get_object_acl(&self, req: &mut S3Request<GetObjectAclInput>) -> S3Result<()> {
        let named = req.input.version_id.is_some();
        self.version_action(named, "s3:GetObjectVersionAcl", &req.uri, &req.headers, &mut req.extensions)
    }

    async fn put_object_acl(&self, req: &mut S3Request<PutObjectAclInput>) -> S3Result<()> {
        let named = req.input.version_id.is_some();
        self.version_action(named, "s3:PutObjectVersionAcl", &req.uri, &req.headers, &mut req.extensions)
    }

    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let caller = self.caller(cx)?;
        let note = cx.extensions_mut().get::<AuditNote>().cloned();
        if let Some(note) = &note {
            let access_key_id = cx.credentials().map(|c| c.access_key.clone());
            let (bucket, key) = match cx.s3_path() {
                S3Path::Root => (None, None),
                S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
                S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
            };
            let operation = cx.s3_op().name();
            note.update(|e| {
                // As s3s routed it (the front's guess from the URL names only some).
                operation.clone_into(&mut e.operation);
                e.actor = match caller.as_deref() {
                    Some(c) => Actor {
                        kind: if c.is_operator() { "operator" } else { "user" }.to_owned(),
                        tenant: c.tenant.clone(),
                        user: Some(c.user.clone()),
                        access_key_id,
                    },
                    None => Actor { kind: "anonymous".to_owned(), ..Default::default() },
                };
                e.tenant = caller.as_deref().and_then(|c| c.tenant.clone());
                e.bucket = bucket;
                e.key = key;
            });
        }
        let decided = self.check_request(cx, caller).await;
        if let Some(note) = &note {
            match &decided {
                Ok(Some(d)) => note.update(|e| {
                    if d.owner.is_some() {
                        e.tenant.clone_from(&d.owner);
                    }
                    e.break_glass.clone_from(&d.break_glass);
                }),
                // A refused attempt on a tenant's bucket is on that tenant's record too.
                Err(_) => {
                    let bucket = note.snapshot().bucket.and_then(|b| BucketName::parse(&b).ok());
                    let owner = bucket.and_then(|b| self.buckets.get(&self.store, &b).ok().flatten());
                    if let Some(owner) = owner {
                        note.update(|e| e.tenant = Some(owner.owner.clone()));
                    }
                }
                Ok(None) => {}
            }
        }
        decided.map(|_| ())
    }
}

impl AccessControl {
    /// Authorises the request; the decision about its bucket, if it names one. An allowed
    /// request leaves its [`Authorised`] value (operation, names, permit) for the handler.
    async fn check_request(
        &self,
        cx: &mut S3AccessContext<'_>,
        caller: Option<Arc<Principal>>,
    ) -> S3Result<Option<Decided>> {
        let transport = cx.extensions_mut().get::<Transport>().copied();
        let form_key =
            cx.extensions_mut().get::<crate::form::FormFields>().and_then(crate::form::FormFields::object_key);
        cx.extensions_mut().insert(Caller(caller.clone()));
        let operation = cx.s3_op().name();
        let Some(op) = S3Op::from_name(operation) else {
            return Err(s3_error!(NotImplemented, "{operation} is not implemented"));
        };
        let action = op.iam_action();
        let sets_public_acl =
            cx.headers().get("x-amz-acl").and_then(|v| v.to_str().ok()).is_some_and(|v| v != "private");
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => {
                // ListBuckets: any authenticated caller sees the buckets of its own tenant.
                cx.extensions_mut().insert(Authorised::new(op, None));
                return if caller.is_some() { Ok(None) } else { Err(denied()) };
            }
            S3Path::Bucket { bucket } => (bucket.to_string(), None),
            S3Path::Object { bucket, key } => (bucket.to_string(), Some(key.to_string())),
        };
        // The one parse of the names the operation acts on. No bucket can have a name that
        // does not parse, so only CreateBucket says the name is invalid.
        let bucket = match BucketName::parse(&bucket) {
            Ok(b) => b,
            Err(e) if op == S3Op::CreateBucket => return Err(e).s3(),
            Err(_) => return Err(StoreError::NoSuchBucket).s3(),
        };
        let key = match (op, key) {
            // A browser upload names its key in a form field (read ahead by the front).
            (S3Op::PostObject, None) => Some(
                form_key.ok_or_else(|| s3_error!(InvalidArgument, "Bucket POST must contain a field named 'key'."))?,
            ),
            (_, k) => k,
        };
        let key = key.map(|k| ObjectKey::parse(&k)).transpose().s3()?;
        let permit = match &key {
            Some(k) => self.permits.object(action, bucket.clone(), k.clone()),
            None => self.permits.bucket(action, bucket.clone()),
        };
        let decided = if op == S3Op::CreateBucket {
            self.decide_create_bucket(caller.as_deref(), &bucket, request_context(cx.uri(), cx.headers(), transport))?;
            None
        } else if op == S3Op::DeleteObjects {
            // Decided key by key by the operation (see `KeyGate`).
            let owner = self.buckets.get(&self.store, &bucket)?.map(|b| b.owner.clone());
            let gate = KeyGate { access: self.clone(), caller, transport, bucket: bucket.clone() };
            cx.extensions_mut().insert(gate);
            Some(Decided { owner, break_glass: None })
        } else if decided_by_version(op) {
            // Decided by the operation's hook, on s3s's parsed input: the action for versions
            // when the request names one (as AWS requires), else this one (`version_action`).
            let owner = self.buckets.get(&self.store, &bucket)?.map(|b| b.owner.clone());
            Some(Decided { owner, break_glass: None })
        } else {
            let context = request_context(cx.uri(), cx.headers(), transport);
            let question =
                Question { action: action.to_owned(), bucket: &bucket, key: key.as_ref(), context, sets_public_acl };
            // CopyObject and UploadPartCopy also read their source: decided by
            // `copy_source_read` once s3s has parsed it, on the very value the copy reads.
            Some(self.decide(caller.as_deref(), &question)?)
        };
        cx.extensions_mut().insert(Authorised::new(op, Some(permit)));
        Ok(decided)
    }

    /// CreateBucket: only a tenant's users create buckets, as their identity policies allow
    /// (tenant admins by default); operators hold no data, anonymous callers create nothing.
    fn decide_create_bucket(
        &self,
        caller: Option<&Principal>,
        bucket: &BucketName,
        context: HashMap<String, Vec<String>>,
    ) -> S3Result<()> {
        let Some(c) = caller.filter(|c| c.tenant.is_some()) else {
            return Err(denied());
        };
        let request = RequestContext {
            principal: Some(c.arn.clone()),
            account: c.tenant.clone(),
            action: S3Op::CreateBucket.iam_action().to_owned(),
            resource: format!("arn:aws:s3:::{bucket}"),
            context,
        };
        let policies: Vec<&Policy> = c.policies.iter().map(Arc::as_ref).collect();
        match evaluate(&policies, &request) {
            Decision::ExplicitDeny => Err(denied()),
            Decision::Allow => Ok(()),
            Decision::ImplicitDeny if c.role == Role::Admin => Ok(()),
            Decision::ImplicitDeny => Err(denied()),
        }
    }
}

impl AccessControl {
    /// Whether the caller may read the source of a copy: `s3:GetObject` on exactly the bucket
    /// and key s3s parsed from `x-amz-copy-source` (and `s3:GetObjectVersion` too when it names
    /// a version), parsed here once into the names the copy then reads from.
    fn copy_source_read(
        &self,
        source: &CopySource,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        extensions: &mut http::Extensions,
    ) -> S3Result<()> {
        let source = copy_source_name(source, headers)?;
        let caller = extensions.get::<Caller>().ok_or_else(denied)?.0.clone();
        let transport = extensions.get::<Transport>().copied();
        let mut actions = vec!["s3:GetObject"];
        if source.version.is_some() {
            actions.push("s3:GetObjectVersion");
        }
        for action in actions {
            let read = Question {
                action: action.to_owned(),
                bucket: &source.bucket,
                key: Some(&source.key),
                context: request_context(uri, headers, transport),
                sets_public_acl: false,
            };
            self.decide(caller.as_deref(), &read)?;
        }
        match extensions.get_mut::<Authorised>() {
            Some(authorised) => {
                authorised.set_copy_source(source);
                Ok(())
            }
            None => Err(denied()),
        }
    }
}

impl AccessControl {
    /// For a request that names a version (`named`): decides `action` on its object too, and
    /// makes the request's permit one for `action` (the engine's calls on a named version
    /// need it).
    fn version_action(
        &self,
        named: bool,
        action: &'static str,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        extensions: &mut http::Extensions,
    ) -> S3Result<()> {
        let action = if named { action } else { Authorised::of(extensions)?.op().iam_action() };
        let decided = self.also_decide(action, uri, headers, extensions)?;
        if let (Some(grant), Some(note)) = (decided.break_glass, extensions.get::<AuditNote>()) {
            note.update(|e| e.break_glass = Some(grant));
        }
        if named {
            let authorised = extensions.get_mut::<Authorised>().ok_or_else(denied)?;
            let (bucket, key) = authorised.object()?;
            let permit = self.permits.object(action, bucket.clone(), key.clone());
            authorised.set_permit(permit);
        }
        Ok(())
    }

    /// A bypass of GOVERNANCE retention, if asked for and allowed (`s3:BypassGovernanceRetention`).
    /// A bypass not allowed is no bypass, not an error: GOVERNANCE-locked versions then stay.
    fn governance_bypass(
        &self,
        asked: bool,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        extensions: &mut http::Extensions,
    ) {
        if asked
            && self.also_decide("s3:BypassGovernanceRetention", uri, headers, extensions).is_ok()
            && let Some(authorised) = extensions.get_mut::<Authorised>()
        {
            authorised.allow_governance_bypass();
        }
    }

    /// Lock settings on a write (a retention, a legal hold) need their own actions, as in AWS.
    fn lock_actions(
        &self,
        (retention, legal_hold): (bool, bool),
        uri: &http::Uri,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> S3Result<()> {
        if retention {
            self.also_decide("s3:PutObjectRetention", uri, headers, extensions)?;
        }
        if legal_hold {
            self.also_decide("s3:PutObjectLegalHold", uri, headers, extensions)?;
        }
        Ok(())
    }

    /// Decides `action` too, on the object the request was authorised for.
    fn also_decide(
        &self,
        action: &str,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> S3Result<Decided> {
        let caller = extensions.get::<Caller>().ok_or_else(denied)?.0.clone();
        let transport = extensions.get::<Transport>().copied();
        let (bucket, key) = Authorised::of(extensions)?.object()?;
        let question = Question {
            action: action.to_owned(),
            bucket,
            key: Some(key),
            context: request_context(uri, headers, transport),
            sets_public_acl: headers.get("x-amz-acl").and_then(|v| v.to_str().ok()).is_some_and(|v| v != "private"),
        };
        self.decide(caller.as_deref(), &question)
    }
}

/// The operations whose action depends on whether the request names a version
/// (`s3:GetObject` or `s3:GetObjectVersion`, …): decided in their hooks, where s3s's parsed
/// input says so ([`AccessControl::version_action`]), not in `check`.
fn decided_by_version(op: S3Op) -> bool {
    matches!(
        op,
        S3Op::GetObject
            | S3Op::HeadObject
            | S3Op::DeleteObject
            | S3Op::GetObjectTagging
            | S3Op::PutObjectTagging
            | S3Op::DeleteObjectTagging
            | S3Op::GetObjectAcl
            | S3Op::PutObjectAcl
    )
}

/// The source a copy names, in the engine's names. s3s decodes `x-amz-copy-source` leniently
/// ("%ZZ" stays "%ZZ"); AWS refuses a header that is not valid percent-encoding rather than
/// copy from a key the client did not name.
fn copy_source_name(source: &CopySource, headers: &http::HeaderMap) -> S3Result<CopySourceName> {
    let raw = headers.get("x-amz-copy-source").map(http::HeaderValue::as_bytes).unwrap_or_default();
    let well_encoded = raw
        .iter()
        .enumerate()
        .all(|(i, b)| *b != b'%' || raw.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
    if !well_encoded {
        return Err(s3_error!(InvalidArgument, "Invalid copy source encoding"));
    }
    match source {
        CopySource::Bucket { bucket, key, .. } if bucket.is_empty() || key.is_empty() => Err(s3_error!(
            InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"
        )),
        CopySource::Bucket { bucket, key, version_id } => Ok(CopySourceName {
            // No bucket has a name that does not parse, nor an object a key that does not.
            bucket: BucketName::parse(bucket).map_err(|_| StoreError::NoSuchBucket).s3()?,
            key: ObjectKey::parse(key).map_err(|_| StoreError::NoSuchKey).s3()?,
            version: version_id.as_deref().map(VersionId::parse).transpose().s3()?,
        }),
        _ => Err(s3_error!(NotImplemented, "Copying from access points and outposts is not implemented")),
    }
}

/// Per-key authorisation for the operations that name their keys in the body (DeleteObjects:
/// each key is its own `s3:DeleteObject` decision, and a refused key is an `AccessDenied`
/// entry in the result, as in S3).
#[derive(Clone)]
pub struct KeyGate {
    access: AccessControl,
    caller: Option<Arc<Principal>>,
    transport: Option<Transport>,
    /// The bucket of the request.
    bucket: BucketName,
}

impl KeyGate {
    /// Whether the caller may bypass GOVERNANCE retention in the request's bucket.
    pub fn may_bypass_governance(&self) -> bool {
        let Ok(any) = ObjectKey::parse("*") else { return false };
        let q = Question {
            action: "s3:BypassGovernanceRetention".to_owned(),
            bucket: &self.bucket,
            key: Some(&any),
            context: transport_context(self.transport),
            sets_public_acl: false,
        };
        self.access.decide(self.caller.as_deref(), &q).is_ok()
    }

    /// The engine's permit to delete `key` of the request's bucket (a version of it when
    /// `version` is set: `s3:DeleteObjectVersion`), if the caller may.
    pub fn delete_permit(&self, key: &str, version: bool) -> S3Result<coffre_store::Permit> {
        let key = ObjectKey::parse(key).s3()?;
        let action = if version { "s3:DeleteObjectVersion" } else { "s3:DeleteObject" };
        let q = Question {
            action: action.to_owned(),
            bucket: &self.bucket,
            key: Some(&key),
            context: transport_context(self.transport),
            sets_public_acl: false,
        };
        self.access.decide(self.caller.as_deref(), &q)?;
        Ok(self.access.permits.object(action, self.bucket.clone(), key))
    }
}
