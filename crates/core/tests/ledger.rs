//! The ledger, its outbox and API keys on the test database (SQLite, or PostgreSQL with
//! TEST_DATABASE_URL). Sending to WeChat is tested end to end in the server's `tests/ledger.rs`.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed set-up must stop the test at once"
)]

use kaika_core::api_keys::{self, Authentication, Scope};
use kaika_core::clients::Clients;
use kaika_core::entity::{ledger_entries, members, outbox as jobs};
use kaika_core::jobs::Rounds as _;
use kaika_core::ledger::{self, LedgerKind, NewEntry, Reason, Reversal};
use kaika_core::outbox::{self, RemoteTotals, Worker, WorkerSettings};
use kaika_core::secrets::MasterKey;
use kaika_core::testing::{seed_card, seed_member, TestDb};
use kaika_core::CoreError;
use kaika_wechat::ClientConfig;
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, QueryOrder, Set};

const APP: &str = "wx0123456789abcdef";
const CARD: &str = "pCard000000000000000000000001";

fn entry(member_id: i64, kind: LedgerKind, amount: i64, key: &str) -> NewEntry {
    NewEntry {
        member_id,
        kind,
        amount,
        reason: if amount > 0 {
            Reason::Purchase
        } else {
            Reason::Redemption
        },
        note: Some("till 3".into()),
        actor: "api_key:till".into(),
        idempotency_key: key.into(),
    }
}

async fn member(test_db: &TestDb) -> i64 {
    let (_, card_id) = seed_card(&test_db.db, APP, CARD).await;
    seed_member(&test_db.db, card_id, "100000000001").await
}

async fn job_count(test_db: &TestDb) -> u64 {
    jobs::Entity::find().count(&test_db.db).await.unwrap()
}

fn refused_code(err: &CoreError) -> &'static str {
    match err {
        CoreError::Refused { refusal, .. } => refusal.code(),
        _ => "not refused",
    }
}

#[tokio::test]
async fn two_hundred_concurrent_credits_give_the_exact_total_entries_and_jobs() {
    let test_db = TestDb::migrated().await;
    let member_id = member(&test_db).await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let db = test_db.db.clone();
            tokio::spawn(async move {
                ledger::record(
                    &db,
                    &entry(member_id, LedgerKind::Points, 7, &format!("k{i}")),
                )
                .await
            })
        })
        .collect();
    for task in tasks {
        assert!(!task.await.unwrap().unwrap().replayed);
    }
    let row = members::Entity::find_by_id(member_id)
        .one(&test_db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.points, 1400);
    let entries = ledger::entries(&test_db.db, member_id).await.unwrap();
    assert_eq!(entries.len(), 200);
    let mut totals: Vec<i64> = entries.iter().map(|e| e.resulting_total).collect();
    totals.sort_unstable();
    assert_eq!(
        totals,
        (1..=200).map(|i| i * 7).collect::<Vec<_>>(),
        "every entry carries the total right after it"
    );
    let queued = jobs::Entity::find()
        .order_by_asc(jobs::Column::Id)
        .all(&test_db.db)
        .await
        .unwrap();
    assert_eq!(queued.len(), 200);
    let job_totals: Vec<i64> = queued.iter().map(|j| j.points_total.unwrap()).collect();
    assert!(
        job_totals.windows(2).all(|w| w[0] < w[1]),
        "jobs are queued in the order the totals moved"
    );
    assert_eq!(queued.last().unwrap().points_total, Some(1400));
}

#[tokio::test]
async fn the_same_entry_replayed_ten_times_is_written_once_and_another_body_conflicts() {
    let test_db = TestDb::migrated().await;
    let member_id = member(&test_db).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let db = test_db.db.clone();
            tokio::spawn(async move {
                ledger::record(
                    &db,
                    &entry(member_id, LedgerKind::Balance, 1250, "order-42"),
                )
                .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut replays = 0;
    for task in tasks {
        let recorded = task.await.unwrap().unwrap();
        ids.push(recorded.entry.id);
        replays += usize::from(recorded.replayed);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(replays, 9);
    let mut other = entry(member_id, LedgerKind::Balance, 1250, "order-42");
    other.note = Some("another till".into());
    assert!(matches!(
        ledger::record(&test_db.db, &other).await,
        Err(CoreError::Conflict { .. })
    ));
    let row = members::Entity::find_by_id(member_id)
        .one(&test_db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.balance_cents, 1250);
    assert_eq!(job_count(&test_db).await, 1);
}

#[tokio::test]
async fn refused_entries_write_nothing_and_say_why() {
    let test_db = TestDb::migrated().await;
    let member_id = member(&test_db).await;
    ledger::record(&test_db.db, &entry(member_id, LedgerKind::Points, 5, "a"))
        .await
        .unwrap();
    let points = ledger::record(&test_db.db, &entry(member_id, LedgerKind::Points, -6, "b"))
        .await
        .unwrap_err();
    assert_eq!(refused_code(&points), "insufficient_points");
    let balance = ledger::record(&test_db.db, &entry(member_id, LedgerKind::Balance, -1, "c"))
        .await
        .unwrap_err();
    assert_eq!(refused_code(&balance), "insufficient_balance");
    let huge = ledger::record(
        &test_db.db,
        &entry(member_id, LedgerKind::Points, i64::MAX, "d"),
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(&huge), "total_too_large");
    let min = ledger::record(
        &test_db.db,
        &entry(member_id, LedgerKind::Points, i64::MIN, "e"),
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(&min), "insufficient_points");
    assert!(matches!(
        ledger::record(&test_db.db, &entry(member_id, LedgerKind::Points, 0, "f")).await,
        Err(CoreError::Invalid { .. })
    ));
    assert!(matches!(
        ledger::record(&test_db.db, &entry(member_id, LedgerKind::Points, 1, "")).await,
        Err(CoreError::Invalid { .. })
    ));
    assert!(matches!(
        ledger::record(
            &test_db.db,
            &entry(member_id + 99, LedgerKind::Points, 1, "g")
        )
        .await,
        Err(CoreError::NotFound { .. })
    ));
    let mut deleted: members::ActiveModel = members::Entity::find_by_id(member_id)
        .one(&test_db.db)
        .await
        .unwrap()
        .unwrap()
        .into();
    deleted.status = Set("deleted".into());
    deleted.update(&test_db.db).await.unwrap();
    let gone = ledger::record(&test_db.db, &entry(member_id, LedgerKind::Points, 1, "h"))
        .await
        .unwrap_err();
    assert_eq!(refused_code(&gone), "member_not_active");

    assert_eq!(
        ledger::entries(&test_db.db, member_id).await.unwrap().len(),
        1
    );
    assert_eq!(job_count(&test_db).await, 1);
    let row = members::Entity::find_by_id(member_id)
        .one(&test_db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.points, row.balance_cents), (5, 0));
}

#[tokio::test]
async fn the_welcome_bonus_enqueues_nothing_because_activation_sent_it() {
    let test_db = TestDb::migrated().await;
    let member_id = member(&test_db).await;
    let mut welcome = entry(member_id, LedgerKind::Points, 100, "welcome");
    welcome.reason = Reason::Welcome;
    ledger::record(&test_db.db, &welcome).await.unwrap();
    assert_eq!(job_count(&test_db).await, 0);
}

#[tokio::test]
async fn a_reversal_is_a_new_entry_pointing_at_the_original_and_happens_once() {
    let test_db = TestDb::migrated().await;
    let member_id = member(&test_db).await;
    let original = ledger::append(&test_db.db, &entry(member_id, LedgerKind::Points, 30, "p1"))
        .await
        .unwrap();
    let reversal = |key: &str| Reversal {
        entry_id: original.id,
        note: Some("wrong member".into()),
        actor: "admin:root".into(),
        idempotency_key: key.into(),
    };
    let undone = ledger::reverse(&test_db.db, &reversal("r1")).await.unwrap();
    assert_eq!(undone.entry.amount, -30);
    assert_eq!(undone.entry.reverses_id, Some(original.id));
    assert_eq!(undone.entry.reason, "reversal");
    assert_eq!(undone.entry.resulting_total, 0);
    assert!(
        ledger::reverse(&test_db.db, &reversal("r1"))
            .await
            .unwrap()
            .replayed
    );
    let twice = ledger::reverse(&test_db.db, &reversal("r2"))
        .await
        .unwrap_err();
    assert_eq!(refused_code(&twice), "already_reversed");
    let of_reversal = ledger::reverse(
        &test_db.db,
        &Reversal {
            entry_id: undone.entry.id,
            ..reversal("r3")
        },
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(&of_reversal), "entry_is_reversal");
    let stored = ledger_entries::Entity::find_by_id(original.id)
        .one(&test_db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, original, "the original is never changed");
    assert_eq!(
        ledger::entries(&test_db.db, member_id).await.unwrap().len(),
        2
    );
    assert_eq!(job_count(&test_db).await, 2);
}

#[tokio::test]
async fn ledger_pages_walk_back_with_a_cursor() {
    let test_db = TestDb::migrated().await;
    let member_id = member(&test_db).await;
    for i in 0..5 {
        ledger::append(
            &test_db.db,
            &entry(member_id, LedgerKind::Points, 1, &format!("k{i}")),
        )
        .await
        .unwrap();
    }
    let first = ledger::entries_page(&test_db.db, member_id, None, 2)
        .await
        .unwrap();
    assert_eq!(first.entries.len(), 2);
    assert_eq!(first.entries[0].resulting_total, 5);
    let second = ledger::entries_page(&test_db.db, member_id, first.next_before, 2)
        .await
        .unwrap();
    assert_eq!(second.entries[0].resulting_total, 3);
    let last = ledger::entries_page(&test_db.db, member_id, second.next_before, 2)
        .await
        .unwrap();
    assert_eq!(last.entries.len(), 1);
    assert_eq!(last.next_before, None);
}

#[tokio::test]
async fn workers_claim_only_the_oldest_unsent_job_of_each_member_and_never_the_same_one() {
    let test_db = TestDb::migrated().await;
    let key = MasterKey::generate();
    // An account whose WeChat does not answer: every send fails and is retried later.
    kaika_core::accounts::add(
        &test_db.db,
        &key,
        kaika_core::accounts::NewAccount {
            name: "t".into(),
            app_id: kaika_core::accounts::AppId::parse(APP).unwrap(),
            app_secret: kaika_core::accounts::SecretText::new("secret"),
            callback_token: "token".into(),
            encoding_aes_key: None,
            message_mode: kaika_core::accounts::MessageMode::Plain,
            mini_program: None,
            api_base_url: "http://127.0.0.1:9".into(),
            is_sandbox: false,
        },
    )
    .await
    .unwrap();
    let (_, card_id) = seed_card(&test_db.db, APP, CARD).await;
    let mut member_ids = Vec::new();
    for m in 0..3 {
        let member_id = seed_member(&test_db.db, card_id, &format!("10000000000{m}")).await;
        for i in 0..3 {
            ledger::append(
                &test_db.db,
                &entry(member_id, LedgerKind::Points, 1, &format!("k{i}")),
            )
            .await
            .unwrap();
        }
        member_ids.push(member_id);
    }
    let config = ClientConfig {
        timeout: std::time::Duration::from_millis(300),
        ..ClientConfig::default()
    };
    let clients = Clients::new(test_db.db.clone(), key, config);
    let worker = |name: &str| {
        Worker::new(
            test_db.db.clone(),
            clients.clone(),
            name.into(),
            WorkerSettings {
                retry_base: std::time::Duration::from_secs(60),
                ..WorkerSettings::default()
            },
        )
    };
    let (a, b) = (worker("a"), worker("b"));
    let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.claimed + rb.claimed, 3, "{ra:?} {rb:?}");
    assert_eq!(ra.retrying + rb.retrying, 3);
    let all = jobs::Entity::find()
        .order_by_asc(jobs::Column::Id)
        .all(&test_db.db)
        .await
        .unwrap();
    for member_id in member_ids {
        let tried: Vec<i32> = all
            .iter()
            .filter(|j| j.member_id == member_id)
            .map(|j| j.attempts)
            .collect();
        assert_eq!(
            tried,
            vec![1, 0, 0],
            "only the oldest job of a member was tried"
        );
    }
    assert!(all[0].last_error.is_some());
    assert_eq!(all[0].status, outbox::STATUS_PENDING);
    assert_eq!(
        a.run_once().await.unwrap().claimed,
        0,
        "a job waiting for its retry holds back the member's later jobs"
    );
    assert_eq!(outbox::retry_now(&test_db.db).await.unwrap(), 3);
    let counts = outbox::count_by_status(&test_db.db).await.unwrap();
    assert!(counts.contains(&("pending".into(), 9)), "{counts:?}");
}

#[tokio::test]
async fn a_correction_carries_the_local_totals_and_the_difference() {
    let test_db = TestDb::migrated().await;
    let member_id = member(&test_db).await;
    ledger::append(&test_db.db, &entry(member_id, LedgerKind::Points, 40, "a"))
        .await
        .unwrap();
    let job = outbox::enqueue_correction(
        &test_db.db,
        member_id,
        RemoteTotals {
            points: Some(100),
            balance: Some(0),
        },
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(job.points_total, Some(40));
    assert_eq!(job.points_delta, Some(-60));
    assert_eq!(job.balance_total, None, "the balance did not drift");
    assert_eq!(job.purpose, outbox::PURPOSE_CORRECTION);
    let none = outbox::enqueue_correction(
        &test_db.db,
        member_id,
        RemoteTotals {
            points: Some(40),
            balance: Some(0),
        },
    )
    .await
    .unwrap();
    assert!(none.is_none());
}

#[tokio::test]
async fn api_keys_are_shown_once_stored_hashed_scoped_and_revocable() {
    let test_db = TestDb::migrated().await;
    let created = api_keys::create(&test_db.db, "till-1", &[Scope::LedgerRead], "cli")
        .await
        .unwrap();
    assert!(created.key.starts_with("kk_") && created.key.len() == 67);
    assert_ne!(created.row.key_hash, created.key);
    assert!(!created.row.key_hash.contains(&created.key[3..]));
    let Authentication::Valid(key) = api_keys::authenticate(&test_db.db, &created.key)
        .await
        .unwrap()
    else {
        panic!("the key authenticates");
    };
    assert!(key.allows(Scope::LedgerRead) && !key.allows(Scope::LedgerWrite));
    assert_eq!(key.actor(), "api_key:till-1");
    // The same prefix (so the stored row is found) with the last digit changed: the hash must refuse it.
    let last = if created.key.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &created.key[..66]);
    assert_ne!(wrong, created.key);
    assert_eq!(
        api_keys::authenticate(&test_db.db, &wrong).await.unwrap(),
        Authentication::Unknown
    );
    api_keys::revoke(&test_db.db, &created.row.key_prefix)
        .await
        .unwrap();
    assert_eq!(
        api_keys::authenticate(&test_db.db, &created.key)
            .await
            .unwrap(),
        Authentication::Revoked
    );
    assert!(
        api_keys::create(&test_db.db, " ", &[Scope::LedgerRead], "cli")
            .await
            .is_err()
    );
    assert_eq!(api_keys::list(&test_db.db).await.unwrap().len(), 1);
}
