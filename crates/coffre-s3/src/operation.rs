//! The S3 operations Coffre serves, as s3s routed them, and everything that follows from which
//! operation a request is: its IAM action, its name in the audit trail and metrics, its
//! server access log name, and whether it may change anything.
//!
//! s3s parses the request once and names its operation; that name is read here into an
//! [`S3Op`], and every `match` on it is exhaustive, so a new operation does not compile until
//! its action and names are chosen (no fall-through that gives it an action nobody chose).

/// Declares [`S3Op`] with its list of every operation and their S3 API names, from one list.
macro_rules! operations {
    ($($op:ident),+ $(,)?) => {
        /// An operation Coffre implements.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum S3Op {
            $($op),+
        }

        impl S3Op {
            /// Every operation, for tables and tests.
            pub const ALL: &'static [S3Op] = &[$(S3Op::$op),+];

            /// The S3 API name: the audit record's operation and the metrics label.
            pub fn name(self) -> &'static str {
                match self {
                    $(S3Op::$op => stringify!($op)),+
                }
            }
        }
    };
}

operations!(
    AbortMultipartUpload,
    CompleteMultipartUpload,
    CopyObject,
    CreateBucket,
    CreateMultipartUpload,
    DeleteBucket,
    DeleteBucketEncryption,
    DeleteBucketLifecycle,
    DeleteBucketPolicy,
    DeleteObject,
    DeleteObjectTagging,
    DeleteObjects,
    DeletePublicAccessBlock,
    GetBucketAcl,
    GetBucketEncryption,
    GetBucketLifecycleConfiguration,
    GetBucketLocation,
    GetBucketLogging,
    GetBucketPolicy,
    GetBucketPolicyStatus,
    GetBucketVersioning,
    GetObject,
    GetObjectAcl,
    GetObjectLegalHold,
    GetObjectLockConfiguration,
    GetObjectRetention,
    GetObjectTagging,
    GetPublicAccessBlock,
    HeadBucket,
    HeadObject,
    ListBuckets,
    ListMultipartUploads,
    ListObjectVersions,
    ListObjects,
    ListObjectsV2,
    ListParts,
    PostObject,
    PutBucketAcl,
    PutBucketEncryption,
    PutBucketLifecycleConfiguration,
    PutBucketLogging,
    PutBucketPolicy,
    PutBucketVersioning,
    PutObject,
    PutObjectAcl,
    PutObjectLegalHold,
    PutObjectLockConfiguration,
    PutObjectRetention,
    PutObjectTagging,
    PutPublicAccessBlock,
    UploadPart,
    UploadPartCopy,
);

impl S3Op {
    /// The operation s3s routed a request to, by its S3 API name; `None` for one Coffre does
    /// not implement (s3s answers those 501 NotImplemented).
    pub fn from_name(name: &str) -> Option<S3Op> {
        S3Op::ALL.iter().copied().find(|op| op.name() == name)
    }

    /// The IAM action the operation needs on the resource it names (bucket or object). A copy
    /// also needs `s3:GetObject` on its source, and DeleteObjects `s3:DeleteObject` on each
    /// key: both are decided where those are known.
    pub fn iam_action(self) -> &'static str {
        use S3Op::*;
        match self {
            AbortMultipartUpload => "s3:AbortMultipartUpload",
            CompleteMultipartUpload
            | CopyObject
            | CreateMultipartUpload
            | PostObject
            | PutObject
            | UploadPart
            | UploadPartCopy => "s3:PutObject",
            CreateBucket => "s3:CreateBucket",
            DeleteBucket => "s3:DeleteBucket",
            DeleteBucketEncryption | PutBucketEncryption => "s3:PutEncryptionConfiguration",
            GetBucketEncryption => "s3:GetEncryptionConfiguration",
            DeleteBucketPolicy => "s3:DeleteBucketPolicy",
            GetBucketPolicy => "s3:GetBucketPolicy",
            PutBucketPolicy => "s3:PutBucketPolicy",
            PutBucketVersioning => "s3:PutBucketVersioning",
            DeleteBucketLifecycle | PutBucketLifecycleConfiguration => "s3:PutLifecycleConfiguration",
            GetBucketLifecycleConfiguration => "s3:GetLifecycleConfiguration",
            GetObjectLegalHold => "s3:GetObjectLegalHold",
            PutObjectLegalHold => "s3:PutObjectLegalHold",
            GetObjectRetention => "s3:GetObjectRetention",
            PutObjectRetention => "s3:PutObjectRetention",
            GetObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
            PutObjectLockConfiguration => "s3:PutBucketObjectLockConfiguration",
            GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
            DeleteObject | DeleteObjects => "s3:DeleteObject",
            DeleteObjectTagging => "s3:DeleteObjectTagging",
            GetObjectTagging => "s3:GetObjectTagging",
            PutObjectTagging => "s3:PutObjectTagging",
            DeletePublicAccessBlock | PutPublicAccessBlock => "s3:PutBucketPublicAccessBlock",
            GetPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
            GetBucketAcl => "s3:GetBucketAcl",
            PutBucketAcl => "s3:PutBucketAcl",
            GetObjectAcl => "s3:GetObjectAcl",
            PutObjectAcl => "s3:PutObjectAcl",
            GetBucketLocation => "s3:GetBucketLocation",
            GetBucketLogging => "s3:GetBucketLogging",
            PutBucketLogging => "s3:PutBucketLogging",
            GetBucketVersioning => "s3:GetBucketVersioning",
            GetObject | HeadObject => "s3:GetObject",
            HeadBucket | ListObjects | ListObjectsV2 => "s3:ListBucket",
            ListBuckets => "s3:ListAllMyBuckets",
            ListMultipartUploads => "s3:ListBucketMultipartUploads",
            ListObjectVersions => "s3:ListBucketVersions",
            ListParts => "s3:ListMultipartUploadParts",
        }
    }

    /// The operation's name in S3 server access logs (`REST.GET.OBJECT`).
    pub fn access_log_name(self) -> &'static str {
        use S3Op::*;
        match self {
            AbortMultipartUpload => "REST.DELETE.UPLOAD",
            CompleteMultipartUpload => "REST.POST.UPLOAD",
            CopyObject => "REST.COPY.OBJECT",
            CreateBucket => "REST.PUT.BUCKET",
            CreateMultipartUpload => "REST.POST.UPLOADS",
            DeleteBucket => "REST.DELETE.BUCKET",
            DeleteBucketEncryption => "REST.DELETE.ENCRYPTION",
            DeleteBucketPolicy => "REST.DELETE.BUCKETPOLICY",
            DeleteObject => "REST.DELETE.OBJECT",
            DeleteObjectTagging => "REST.DELETE.OBJECT_TAGGING",
            DeleteObjects => "REST.POST.MULTI_OBJECT_DELETE",
            DeletePublicAccessBlock => "REST.DELETE.PUBLIC_ACCESS_BLOCK",
            GetBucketAcl | GetObjectAcl => "REST.GET.ACL",
            GetBucketEncryption => "REST.GET.ENCRYPTION",
            GetBucketLocation => "REST.GET.LOCATION",
            GetBucketLogging => "REST.GET.LOGGING_STATUS",
            GetBucketPolicy => "REST.GET.BUCKETPOLICY",
            GetBucketPolicyStatus => "REST.GET.POLICY_STATUS",
            GetBucketVersioning => "REST.GET.VERSIONING",
            GetObject => "REST.GET.OBJECT",
            GetObjectTagging => "REST.GET.OBJECT_TAGGING",
            GetPublicAccessBlock => "REST.GET.PUBLIC_ACCESS_BLOCK",
            HeadBucket => "REST.HEAD.BUCKET",
            HeadObject => "REST.HEAD.OBJECT",
            ListBuckets => "REST.GET.SERVICE",
            ListMultipartUploads => "REST.GET.UPLOADS",
            ListObjectVersions => "REST.GET.BUCKETVERSIONS",
            ListObjects | ListObjectsV2 => "REST.GET.BUCKET",
            ListParts => "REST.GET.UPLOAD",
            PostObject => "REST.POST.OBJECT",
            PutBucketAcl | PutObjectAcl => "REST.PUT.ACL",
            PutBucketEncryption => "REST.PUT.ENCRYPTION",
            PutBucketLogging => "REST.PUT.LOGGING_STATUS",
            PutBucketPolicy => "REST.PUT.BUCKETPOLICY",
            PutBucketVersioning => "REST.PUT.VERSIONING",
            DeleteBucketLifecycle => "REST.DELETE.LIFECYCLE",
            GetBucketLifecycleConfiguration => "REST.GET.LIFECYCLE",
            PutBucketLifecycleConfiguration => "REST.PUT.LIFECYCLE",
            GetObjectLegalHold => "REST.GET.LEGAL_HOLD",
            PutObjectLegalHold => "REST.PUT.LEGAL_HOLD",
            GetObjectRetention => "REST.GET.RETENTION",
            PutObjectRetention => "REST.PUT.RETENTION",
            GetObjectLockConfiguration => "REST.GET.OBJECT_LOCK_CONFIGURATION",
            PutObjectLockConfiguration => "REST.PUT.OBJECT_LOCK_CONFIGURATION",
            PutObject => "REST.PUT.OBJECT",
            PutObjectTagging => "REST.PUT.OBJECT_TAGGING",
            PutPublicAccessBlock => "REST.PUT.PUBLIC_ACCESS_BLOCK",
            UploadPart => "REST.PUT.PART",
            UploadPartCopy => "REST.COPY.PART",
        }
    }

    /// Whether the operation may change anything (and so commits with an audit intent).
    pub fn mutates(self) -> bool {
        use S3Op::*;
        match self {
            GetBucketAcl
            | GetBucketEncryption
            | GetBucketLifecycleConfiguration
            | GetBucketLocation
            | GetBucketLogging
            | GetBucketPolicy
            | GetBucketPolicyStatus
            | GetBucketVersioning
            | GetObject
            | GetObjectAcl
            | GetObjectLegalHold
            | GetObjectLockConfiguration
            | GetObjectRetention
            | GetObjectTagging
            | GetPublicAccessBlock
            | HeadBucket
            | HeadObject
            | ListBuckets
            | ListMultipartUploads
            | ListObjectVersions
            | ListObjects
            | ListObjectsV2
            | ListParts => false,
            AbortMultipartUpload
            | CompleteMultipartUpload
            | CopyObject
            | CreateBucket
            | CreateMultipartUpload
            | DeleteBucket
            | DeleteBucketEncryption
            | DeleteBucketLifecycle
            | DeleteBucketPolicy
            | DeleteObject
            | DeleteObjectTagging
            | DeleteObjects
            | DeletePublicAccessBlock
            | PostObject
            | PutBucketAcl
            | PutBucketEncryption
            | PutBucketLifecycleConfiguration
            | PutBucketLogging
            | PutBucketPolicy
            | PutBucketVersioning
            | PutObject
            | PutObjectAcl
            | PutObjectLegalHold
            | PutObjectLockConfiguration
            | PutObjectRetention
            | PutObjectTagging
            | PutPublicAccessBlock
            | UploadPart
            | UploadPartCopy => true,
        }
    }
}

/// The operations table of docs/iam.md (generated from [`S3Op`]; a test keeps them equal).
pub fn iam_table_markdown() -> String {
    let mut out = String::from("| operation | IAM action | access log |\n|---|---|---|\n");
    let mut ops = S3Op::ALL.to_vec();
    ops.sort_by_key(|op| op.name());
    for op in ops {
        out.push_str(&format!("| {} | `{}` | `{}` |\n", op.name(), op.iam_action(), op.access_log_name()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_named_once_and_parses_back() {
        let mut names: Vec<&str> = S3Op::ALL.iter().map(|op| op.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), S3Op::ALL.len());
        for &op in S3Op::ALL {
            assert_eq!(S3Op::from_name(op.name()), Some(op));
        }
        assert_eq!(S3Op::from_name("PutBucketReplication"), None);
    }

    /// The table users rely on: an action changed here is a policy that stops (or starts)
    /// allowing something.
    #[test]
    fn actions_audit_names_and_log_names_are_aws_s() {
        let expected: &[(S3Op, &str, &str)] = &[
            (S3Op::AbortMultipartUpload, "s3:AbortMultipartUpload", "REST.DELETE.UPLOAD"),
            (S3Op::CompleteMultipartUpload, "s3:PutObject", "REST.POST.UPLOAD"),
            (S3Op::CopyObject, "s3:PutObject", "REST.COPY.OBJECT"),
            (S3Op::CreateBucket, "s3:CreateBucket", "REST.PUT.BUCKET"),
            (S3Op::CreateMultipartUpload, "s3:PutObject", "REST.POST.UPLOADS"),
            (S3Op::DeleteBucket, "s3:DeleteBucket", "REST.DELETE.BUCKET"),
            (S3Op::DeleteBucketEncryption, "s3:PutEncryptionConfiguration", "REST.DELETE.ENCRYPTION"),
            (S3Op::DeleteBucketPolicy, "s3:DeleteBucketPolicy", "REST.DELETE.BUCKETPOLICY"),
            (S3Op::DeleteObject, "s3:DeleteObject", "REST.DELETE.OBJECT"),
            (S3Op::DeleteObjectTagging, "s3:DeleteObjectTagging", "REST.DELETE.OBJECT_TAGGING"),
            (S3Op::DeleteObjects, "s3:DeleteObject", "REST.POST.MULTI_OBJECT_DELETE"),
            (S3Op::DeletePublicAccessBlock, "s3:PutBucketPublicAccessBlock", "REST.DELETE.PUBLIC_ACCESS_BLOCK"),
            (S3Op::GetBucketAcl, "s3:GetBucketAcl", "REST.GET.ACL"),
            (S3Op::GetBucketEncryption, "s3:GetEncryptionConfiguration", "REST.GET.ENCRYPTION"),
            (S3Op::GetBucketLocation, "s3:GetBucketLocation", "REST.GET.LOCATION"),
            (S3Op::GetBucketLogging, "s3:GetBucketLogging", "REST.GET.LOGGING_STATUS"),
            (S3Op::GetBucketPolicy, "s3:GetBucketPolicy", "REST.GET.BUCKETPOLICY"),
            (S3Op::GetBucketPolicyStatus, "s3:GetBucketPolicyStatus", "REST.GET.POLICY_STATUS"),
            (S3Op::GetBucketVersioning, "s3:GetBucketVersioning", "REST.GET.VERSIONING"),
            (S3Op::GetObject, "s3:GetObject", "REST.GET.OBJECT"),
            (S3Op::GetObjectAcl, "s3:GetObjectAcl", "REST.GET.ACL"),
            (S3Op::GetObjectTagging, "s3:GetObjectTagging", "REST.GET.OBJECT_TAGGING"),
            (S3Op::GetPublicAccessBlock, "s3:GetBucketPublicAccessBlock", "REST.GET.PUBLIC_ACCESS_BLOCK"),
            (S3Op::HeadBucket, "s3:ListBucket", "REST.HEAD.BUCKET"),
            (S3Op::HeadObject, "s3:GetObject", "REST.HEAD.OBJECT"),
            (S3Op::ListBuckets, "s3:ListAllMyBuckets", "REST.GET.SERVICE"),
            (S3Op::ListMultipartUploads, "s3:ListBucketMultipartUploads", "REST.GET.UPLOADS"),
            (S3Op::ListObjectVersions, "s3:ListBucketVersions", "REST.GET.BUCKETVERSIONS"),
            (S3Op::ListObjects, "s3:ListBucket", "REST.GET.BUCKET"),
            (S3Op::ListObjectsV2, "s3:ListBucket", "REST.GET.BUCKET"),
            (S3Op::ListParts, "s3:ListMultipartUploadParts", "REST.GET.UPLOAD"),
            (S3Op::PostObject, "s3:PutObject", "REST.POST.OBJECT"),
            (S3Op::PutBucketAcl, "s3:PutBucketAcl", "REST.PUT.ACL"),
            (S3Op::PutBucketEncryption, "s3:PutEncryptionConfiguration", "REST.PUT.ENCRYPTION"),
            (S3Op::PutBucketLogging, "s3:PutBucketLogging", "REST.PUT.LOGGING_STATUS"),
            (S3Op::PutBucketPolicy, "s3:PutBucketPolicy", "REST.PUT.BUCKETPOLICY"),
            (S3Op::PutBucketVersioning, "s3:PutBucketVersioning", "REST.PUT.VERSIONING"),
            (S3Op::PutBucketLifecycleConfiguration, "s3:PutLifecycleConfiguration", "REST.PUT.LIFECYCLE"),
            (S3Op::GetBucketLifecycleConfiguration, "s3:GetLifecycleConfiguration", "REST.GET.LIFECYCLE"),
            (S3Op::DeleteBucketLifecycle, "s3:PutLifecycleConfiguration", "REST.DELETE.LIFECYCLE"),
            (S3Op::GetObjectLegalHold, "s3:GetObjectLegalHold", "REST.GET.LEGAL_HOLD"),
            (S3Op::PutObjectLegalHold, "s3:PutObjectLegalHold", "REST.PUT.LEGAL_HOLD"),
            (S3Op::GetObjectRetention, "s3:GetObjectRetention", "REST.GET.RETENTION"),
            (S3Op::PutObjectRetention, "s3:PutObjectRetention", "REST.PUT.RETENTION"),
            (
                S3Op::GetObjectLockConfiguration,
                "s3:GetBucketObjectLockConfiguration",
                "REST.GET.OBJECT_LOCK_CONFIGURATION",
            ),
            (
                S3Op::PutObjectLockConfiguration,
                "s3:PutBucketObjectLockConfiguration",
                "REST.PUT.OBJECT_LOCK_CONFIGURATION",
            ),
            (S3Op::PutObject, "s3:PutObject", "REST.PUT.OBJECT"),
            (S3Op::PutObjectAcl, "s3:PutObjectAcl", "REST.PUT.ACL"),
            (S3Op::PutObjectTagging, "s3:PutObjectTagging", "REST.PUT.OBJECT_TAGGING"),
            (S3Op::PutPublicAccessBlock, "s3:PutBucketPublicAccessBlock", "REST.PUT.PUBLIC_ACCESS_BLOCK"),
            (S3Op::UploadPart, "s3:PutObject", "REST.PUT.PART"),
            (S3Op::UploadPartCopy, "s3:PutObject", "REST.COPY.PART"),
        ];
        assert_eq!(expected.len(), S3Op::ALL.len(), "every operation is in this table");
        for (op, action, log) in expected {
            assert_eq!((op.iam_action(), op.access_log_name()), (*action, *log), "{}", op.name());
        }
    }

    #[test]
    fn reads_do_not_mutate() {
        for &op in S3Op::ALL {
            let read = ["Get", "Head", "List"].iter().any(|p| op.name().starts_with(p));
            assert_eq!(op.mutates(), !read, "{}", op.name());
        }
    }

    #[test]
    fn docs_iam_md_holds_the_generated_table() {
        let doc = include_str!("../../../docs/iam.md");
        assert!(
            doc.contains(&iam_table_markdown()),
            "docs/iam.md's operation table differs from the code; paste this in:\n{}",
            iam_table_markdown()
        );
    }
}
