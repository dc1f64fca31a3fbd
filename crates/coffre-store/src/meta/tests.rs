use super::*;

fn record() -> ObjectRecord {
    ObjectRecord {
        version_id: None,
        size_bytes: 1,
        etag: "e".into(),
        last_modified_ns: 1,
        attributes: crate::records::ObjectAttributes::default(),
        checksum: None,
        part_sizes: Vec::new(),
        layout: DataLayout::Chunks(Vec::new()),
        encryption: crate::records::Encryption::sse_s3("k".into()),
        completed_upload: None,
        retention: None,
        legal_hold: false,
    }
}

/// A refused command in the middle of a group commit changes nothing, and the commands
/// around it commit.
#[test]
fn a_refused_command_in_a_batch_leaves_the_rest_committed() {
    use crate::changes::BucketChange;
    use crate::records::{BucketLogging, PublicAccessBlock, Quota};
    let dir = tempfile::tempdir().unwrap();
    let space = Arc::new(SpaceGuard::new(dir.path(), crate::space::Reserve::Bytes(0)));
    let store = MetaStore::open(&dir.path().join("m.redb"), false, 1 << 20, space).unwrap();
    let db = store.db.get().unwrap();
    let mut bucket = BucketRecord::new(1, None, Some("acme".into()));
    bucket.public_access_block = Some(PublicAccessBlock { block_public_policy: true, ..Default::default() });
    let create = MetaOp::CreateBucket { bucket: "b".into(), record: bucket };
    assert!(commit_batch(&db, vec![Command { op: create, at_ms: 1, intent: None }], false).unwrap()[0].is_ok());
    let change = |change| Command { op: MetaOp::UpdateBucket { bucket: "b".into(), change }, at_ms: 2, intent: None };
    let results = commit_batch(
        &db,
        vec![
            change(BucketChange::SetQuota(Some(Quota { max_bytes: Some(5), max_objects: None }))),
            change(BucketChange::SetPolicy { policy: "{}".into(), public: true }),
            change(BucketChange::SetLogging(Some(BucketLogging {
                target_bucket: "b".into(),
                target_prefix: String::new(),
            }))),
        ],
        false,
    )
    .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(matches!(results[1], Err(StoreError::PublicAccessBlocked)));
    let stored = store.bucket("b").unwrap().unwrap();
    assert_eq!(stored.quota.and_then(|q| q.max_bytes), Some(5));
    assert!(stored.logging.is_some());
    assert_eq!(stored.policy, None, "the refused policy was not written");
}

/// Small objects live inline in the metadata pages: the cache must hold no more than it was
/// given however many are written (redb's own default would keep all of these).
#[test]
fn the_metadata_cache_stays_within_its_size() {
    use redb::ReadableDatabase as _;
    let dir = tempfile::tempdir().unwrap();
    let cache_bytes = 1024 * 1024;
    let space = Arc::new(SpaceGuard::new(dir.path(), crate::space::Reserve::Bytes(0)));
    let store = MetaStore::open(&dir.path().join("m.redb"), false, cache_bytes, space).unwrap();
    let name = objects_table_name("b");
    let inline = vec![7u8; 4096];
    for batch in 0..16 {
        let txn = store.db.get().unwrap().begin_write().unwrap();
        {
            let mut t = txn.open_table(objects_table(&name)).unwrap();
            let bytes = records::encode(&record(), &inline);
            for i in 0..256 {
                let key = format!("k{batch:02}-{i:04}");
                t.insert((key.as_bytes(), 0), bytes.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let used = store.db.get().unwrap().cache_stats().used_bytes();
    // 16 MiB of objects written; the cache may overshoot by a page or two.
    assert!(used <= cache_bytes + 64 * 1024, "cache holds {used} bytes, given {cache_bytes}");
}

/// A current-version row for each of `keys`, in a database of its own.
fn current_rows(db: &Database, keys: impl Iterator<Item = String>) {
    let name = current::current_table_name("b");
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(current::current_table(&name)).unwrap();
        let row = current::encode(&ListedObject::of(&record()));
        for key in keys {
            t.insert(key.as_bytes(), row.as_slice()).unwrap();
        }
    }
    txn.commit().unwrap();
}

fn list(db: &Database, q: &ListQuery) -> ListPage {
    let name = current::current_table_name("b");
    let read = db.begin_read().unwrap();
    let t = read.open_table(current::current_table(&name)).unwrap();
    list_table(&t, q).unwrap()
}

/// A delimiter listing seeks over each common prefix: the rows it reads do not grow with
/// the number of keys under the prefixes it rolls up.
#[test]
fn delimiter_listing_cost_does_not_grow_with_the_bucket() {
    let rows_for = |keys_per_prefix: usize| {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("m.redb")).unwrap();
        let keys = (0..5).flat_map(|p| (0..keys_per_prefix).map(move |i| format!("dir{p}/{i:08}")));
        current_rows(&db, keys.chain(std::iter::once("top".to_owned())));
        let page = list(&db, &ListQuery { delimiter: Some("/".into()), max_keys: 1000, ..Default::default() });
        assert_eq!(page.entries.len(), 6, "five common prefixes and one key");
        page.rows_examined
    };
    let small = rows_for(10);
    let large = rows_for(5_000);
    assert_eq!(small, large, "rows read: {small} for a small bucket, {large} for a large one");
    assert!(large <= 12);
}

/// A page costs what it returns: listing 100 keys of a 20,000-key bucket reads ~100 rows.
#[test]
fn page_cost_follows_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("m.redb")).unwrap();
    current_rows(&db, (0..20_000).map(|i| format!("k{i:08}")));
    let page = list(&db, &ListQuery { start_after: Some("k00010000".into()), max_keys: 100, ..Default::default() });
    assert_eq!(page.entries.len(), 100);
    assert!(page.truncated);
    assert!(page.rows_examined <= 101, "{}", page.rows_examined);
}

fn put(store: &MetaStore, key: &str, at_ms: u64) {
    let mut r = record();
    r.last_modified_ns = i64::try_from(at_ms).unwrap() * 1_000_000;
    let op = MetaOp::PutObject {
        bucket: "b".into(),
        key: key.into(),
        record: Box::new(r),
        inline: Bytes64(Vec::new()),
        condition: WriteCondition::None,
    };
    commit_batch(&store.db.get().unwrap(), vec![Command { op, at_ms, intent: None }], false).unwrap()[0]
        .as_ref()
        .unwrap();
}

fn store_with_bucket(dir: &Path, versioning: Option<crate::records::Versioning>) -> MetaStore {
    let space = Arc::new(SpaceGuard::new(dir, crate::space::Reserve::Bytes(0)));
    let store = MetaStore::open(&dir.join("m.redb"), false, 1 << 20, space).unwrap();
    let mut bucket = BucketRecord::new(1, None, None);
    bucket.versioning = versioning;
    let create = MetaOp::CreateBucket { bucket: "b".into(), record: bucket };
    commit_batch(&store.db.get().unwrap(), vec![Command { op: create, at_ms: 1, intent: None }], false).unwrap();
    store
}

/// A listing reads the current version of each key only: a key with many old versions and
/// a key hidden by a delete marker cost it nothing.
#[test]
fn a_listing_never_steps_over_old_versions_or_delete_markers() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_bucket(dir.path(), Some(crate::records::Versioning::Enabled));
    for i in 0..500 {
        put(&store, "busy", 10 + i);
    }
    put(&store, "gone", 1000);
    let delete = MetaOp::DeleteObject {
        bucket: "b".into(),
        key: "gone".into(),
        condition: WriteCondition::None,
        version: None,
        bypass_governance: false,
    };
    commit_batch(&store.db.get().unwrap(), vec![Command { op: delete, at_ms: 1001, intent: None }], false).unwrap();
    put(&store, "last", 1002);
    let page = store.list_objects("b", &ListQuery { max_keys: 1000, ..Default::default() }).unwrap();
    let keys: Vec<&str> = page
        .entries
        .iter()
        .map(|e| match e {
            ListEntry::Object { key, .. } => key.as_str(),
            ListEntry::CommonPrefix(p) => p.as_str(),
        })
        .collect();
    assert_eq!(keys, ["busy", "last"]);
    assert_eq!(page.rows_examined, 2, "one row per key listed");
    let ListEntry::Object { object, .. } = &page.entries[0] else { unreachable!() };
    assert_eq!(object.last_modified_ns, 509 * 1_000_000, "the latest of busy's 500 versions");
}

/// A data directory from a release before the current-version tables opens and lists as
/// before: the tables are built once, at open.
#[test]
fn a_database_without_current_tables_gets_them_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.redb");
    {
        // What such a release wrote: buckets and version rows, no current tables.
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(BUCKETS)
            .unwrap()
            .insert("b", records::encode(&BucketRecord::new(1, None, None), &[]).as_slice())
            .unwrap();
        {
            let name = objects_table_name("b");
            let mut t = txn.open_table(objects_table(&name)).unwrap();
            let mut older = record();
            older.etag = "old".into();
            let row = |r: &ObjectRecord| records::encode_version(&Version::Object(Box::new(r.clone())), &[]);
            t.insert((b"a".as_slice(), 5), row(&record()).as_slice()).unwrap();
            t.insert((b"a".as_slice(), 9), row(&older).as_slice()).unwrap();
            let marker = crate::records::DeleteMarker { version_id: Some("m".into()), last_modified_ns: 2 };
            let marker_row = records::encode_version(&Version::DeleteMarker(marker), &[]);
            t.insert((b"hidden".as_slice(), 1), marker_row.as_slice()).unwrap();
            t.insert((b"hidden".as_slice(), 3), row(&record()).as_slice()).unwrap();
            t.insert((b"z".as_slice(), 0), row(&record()).as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let space = Arc::new(SpaceGuard::new(dir.path(), crate::space::Reserve::Bytes(0)));
    let store = MetaStore::open(&path, false, 1 << 20, space).unwrap();
    let page = store.list_objects("b", &ListQuery { max_keys: 10, ..Default::default() }).unwrap();
    let listed: Vec<(String, String)> = page
        .entries
        .iter()
        .filter_map(|e| match e {
            ListEntry::Object { key, object } => Some((key.clone(), object.etag.clone())),
            ListEntry::CommonPrefix(_) => None,
        })
        .collect();
    assert_eq!(listed, [("a".to_owned(), "e".to_owned()), ("z".to_owned(), "e".to_owned())]);
}

/// Observers learn of every committed bucket record change, whatever made it, with the
/// record as committed, before the change is acknowledged; refused changes tell nothing.
#[tokio::test]
async fn observers_see_each_committed_bucket_change_before_it_is_acknowledged() {
    use crate::changes::BucketChange;
    use crate::records::{PublicAccessBlock, Quota};
    let dir = tempfile::tempdir().unwrap();
    let space = Arc::new(SpaceGuard::new(dir.path(), crate::space::Reserve::Bytes(0)));
    let store = MetaStore::open(&dir.path().join("m.redb"), false, 1 << 20, space).unwrap();
    // (bucket, its quota as committed; `None`: deleted)
    type Seen = Vec<(String, Option<Option<Quota>>)>;
    let seen: Arc<std::sync::Mutex<Seen>> = Arc::default();
    let log = Arc::clone(&seen);
    store.observe(Arc::new(move |bucket, record| {
        log.lock().unwrap().push((bucket.to_owned(), record.map(|r| r.quota)));
    }));
    let mut bucket = BucketRecord::new(1, None, None);
    bucket.public_access_block = Some(PublicAccessBlock { block_public_policy: true, ..Default::default() });
    store.apply(MetaOp::CreateBucket { bucket: "b".into(), record: bucket }).await.unwrap();
    let quota = Quota { max_bytes: Some(5), max_objects: None };
    let set = BucketChange::SetQuota(Some(quota));
    store.apply(MetaOp::UpdateBucket { bucket: "b".into(), change: set }).await.unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&("b".to_owned(), Some(Some(quota)))), "seen when acknowledged");
    let refused = BucketChange::SetPolicy { policy: "{}".into(), public: true };
    assert!(store.apply(MetaOp::UpdateBucket { bucket: "b".into(), change: refused }).await.is_err());
    store.apply(MetaOp::DeleteBucket { bucket: "b".into() }).await.unwrap();
    let names: Vec<(String, bool)> = seen.lock().unwrap().iter().map(|(b, r)| (b.clone(), r.is_some())).collect();
    assert_eq!(names, [("b".into(), true), ("b".into(), true), ("b".into(), false)], "create, quota, delete");
}
