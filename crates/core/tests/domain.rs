//! Domain rules that live in the database: numbers, ledger, funnel, sessions, shared tokens. Run on SQLite
//! and, with TEST_DATABASE_URL, on PostgreSQL.

use std::collections::HashSet;
use std::time::Duration;

use kaika_core::ledger::{self, LedgerKind, NewEntry, Reason};
use kaika_core::stats::{self, FunnelStep};
use kaika_core::testing::{seed_card, seed_member, TestDb};
use kaika_core::token_store::DbTokenStore;
use kaika_core::{channels, members, sessions, CoreError};
use kaika_wechat::token::{AccessToken, TokenStore};

const APP: &str = "wx0123456789abcdef";

fn credit(member_id: i64, amount: i64, key: &str) -> NewEntry {
    NewEntry {
        member_id,
        kind: LedgerKind::Points,
        amount,
        reason: Reason::Purchase,
        note: None,
        actor: "system".into(),
        idempotency_key: key.into(),
    }
}

#[tokio::test]
async fn membership_numbers_are_unique_under_concurrency_and_never_reused() {
    let test_db = TestDb::migrated().await;
    let (_, card_id) = seed_card(&test_db.db, APP, "pCard000000000000000000000001").await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let db = test_db.db.clone();
            tokio::spawn(async move { members::allocate_membership_number(&db, card_id).await })
        })
        .collect();
    let mut numbers = HashSet::new();
    for task in tasks {
        numbers.insert(task.await.unwrap().unwrap());
    }
    assert_eq!(numbers.len(), 20);
    assert!(numbers.contains("K00000001") && numbers.contains("K00000020"));
    let next = members::allocate_membership_number(&test_db.db, card_id)
        .await
        .unwrap();
    assert_eq!(next, "K00000021");
}

#[tokio::test]
async fn concurrent_credits_give_the_exact_total_and_one_entry_each() {
    let test_db = TestDb::migrated().await;
    let (_, card_id) = seed_card(&test_db.db, APP, "pCard000000000000000000000001").await;
    let member_id = seed_member(&test_db.db, card_id, "100000000001").await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let db = test_db.db.clone();
            tokio::spawn(async move {
                ledger::append(&db, &credit(member_id, 3, &format!("k{i}"))).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let entries = ledger::entries(&test_db.db, member_id).await.unwrap();
    assert_eq!(entries.len(), 50);
    assert_eq!(
        entries[0].resulting_total, 150,
        "the newest entry carries the total"
    );
}

#[tokio::test]
async fn a_repeated_key_returns_the_first_entry_and_a_different_body_conflicts() {
    let test_db = TestDb::migrated().await;
    let (_, card_id) = seed_card(&test_db.db, APP, "pCard000000000000000000000001").await;
    let member_id = seed_member(&test_db.db, card_id, "100000000001").await;
    let first = ledger::append(&test_db.db, &credit(member_id, 10, "same"))
        .await
        .unwrap();
    let again = ledger::append(&test_db.db, &credit(member_id, 10, "same"))
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    let other = ledger::append(&test_db.db, &credit(member_id, 11, "same")).await;
    assert!(matches!(other, Err(CoreError::Conflict { .. })));
    let entries = ledger::entries(&test_db.db, member_id).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].resulting_total, 10,
        "the refused call moved nothing"
    );
}

#[tokio::test]
async fn a_debit_beyond_the_total_is_refused_and_changes_nothing() {
    let test_db = TestDb::migrated().await;
    let (_, card_id) = seed_card(&test_db.db, APP, "pCard000000000000000000000001").await;
    let member_id = seed_member(&test_db.db, card_id, "100000000001").await;
    ledger::append(&test_db.db, &credit(member_id, 5, "a"))
        .await
        .unwrap();
    let err = ledger::append(&test_db.db, &credit(member_id, -6, "b"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("insufficient_points"), "{err}");
    let zero = ledger::append(&test_db.db, &credit(member_id, 0, "c"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            zero,
            CoreError::Invalid {
                field: "amount",
                ..
            }
        ),
        "{zero:?}"
    );
    assert_eq!(
        ledger::entries(&test_db.db, member_id).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn funnel_counters_add_up_under_concurrency() {
    let test_db = TestDb::migrated().await;
    let (_, card_id) = seed_card(&test_db.db, APP, "pCard000000000000000000000001").await;
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let db = test_db.db.clone();
            tokio::spawn(
                async move { stats::count(&db, card_id, "store_1", FunnelStep::Claimed).await },
            )
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    stats::count(&test_db.db, card_id, "store_1", FunnelStep::Activated)
        .await
        .unwrap();
    assert_eq!(
        stats::totals(&test_db.db, card_id, "store_1")
            .await
            .unwrap(),
        [0, 25, 1, 0]
    );
    assert_eq!(
        stats::totals(&test_db.db, card_id, "other").await.unwrap(),
        [0, 0, 0, 0]
    );
}

#[tokio::test]
async fn sessions_are_found_by_token_only_and_store_a_hash() {
    use kaika_core::entity::mini_sessions;
    use sea_orm::EntityTrait;
    let test_db = TestDb::migrated().await;
    let (account_id, _) = seed_card(&test_db.db, APP, "pCard000000000000000000000001").await;
    let (token, _) = sessions::create(&test_db.db, account_id, "mini-openid", Some("union"))
        .await
        .unwrap();
    assert_eq!(token.len(), 64, "256 random bits in hex");
    let session = sessions::authenticate(&test_db.db, &token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.mini_openid, "mini-openid");
    assert_eq!(session.unionid.as_deref(), Some("union"));
    let stored = mini_sessions::Entity::find()
        .all(&test_db.db)
        .await
        .unwrap();
    assert_ne!(stored[0].token_hash, token);
    let mut wrong = token.clone().into_bytes();
    wrong[0] = if wrong[0] == b'a' { b'b' } else { b'a' };
    assert!(
        sessions::authenticate(&test_db.db, std::str::from_utf8(&wrong).unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(sessions::authenticate(&test_db.db, "not-a-token")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn channels_are_unique_per_card_and_can_be_archived() {
    let test_db = TestDb::migrated().await;
    let (_, card_id) = seed_card(&test_db.db, APP, "pCard000000000000000000000001").await;
    let tag = channels::OuterStr::parse("store_1").unwrap();
    let channel = channels::create(&test_db.db, card_id, &tag, "门店一")
        .await
        .unwrap();
    assert!(matches!(
        channels::create(&test_db.db, card_id, &tag, "again").await,
        Err(CoreError::Conflict { .. })
    ));
    assert!(matches!(
        channels::lookup(&test_db.db, card_id, "store_1")
            .await
            .unwrap(),
        Some(channels::ChannelState::Active(_))
    ));
    channels::archive(&test_db.db, channel.id).await.unwrap();
    assert!(matches!(
        channels::lookup(&test_db.db, card_id, "store_1")
            .await
            .unwrap(),
        Some(channels::ChannelState::Archived(_))
    ));
    assert!(channels::lookup(&test_db.db, card_id, "nope")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn the_token_store_shares_tokens_and_grants_one_lease_at_a_time() {
    let test_db = TestDb::migrated().await;
    let one = DbTokenStore::new(test_db.db.clone());
    let two = DbTokenStore::new(test_db.db.clone());
    assert!(one.get(APP).await.unwrap().is_none());
    let token = AccessToken::from_expires_in("TOKEN-1", 7200, kaika_core::clock::now());
    one.save(APP, &token).await.unwrap();
    assert_eq!(two.get(APP).await.unwrap().unwrap().token, "TOKEN-1");

    assert!(one
        .try_acquire_refresh_lease(APP, "p1", Duration::from_secs(30))
        .await
        .unwrap());
    assert!(!two
        .try_acquire_refresh_lease(APP, "p2", Duration::from_secs(30))
        .await
        .unwrap());
    assert!(one
        .try_acquire_refresh_lease(APP, "p1", Duration::from_secs(30))
        .await
        .unwrap());
    one.release_refresh_lease(APP, "p1").await.unwrap();
    assert!(two
        .try_acquire_refresh_lease(APP, "p2", Duration::from_secs(30))
        .await
        .unwrap());

    two.invalidate(APP, "SOME-OTHER-TOKEN").await.unwrap();
    assert!(
        one.get(APP).await.unwrap().is_some(),
        "a newer token survives a stale invalidation"
    );
    two.invalidate(APP, "TOKEN-1").await.unwrap();
    assert!(one.get(APP).await.unwrap().is_none());
}

#[tokio::test]
async fn an_expired_lease_can_be_taken_over() {
    let test_db = TestDb::migrated().await;
    let store = DbTokenStore::new(test_db.db.clone());
    assert!(store
        .try_acquire_refresh_lease(APP, "p1", Duration::from_millis(1))
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store
        .try_acquire_refresh_lease(APP, "p2", Duration::from_secs(30))
        .await
        .unwrap());
}

#[tokio::test]
async fn a_card_without_stored_value_refuses_balance_changes_and_keeps_points() {
    use kaika_core::entity::cards;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let test_db = TestDb::migrated().await;
    let (_, card_id) = seed_card(&test_db.db, APP, "pCard000000000000000000000009").await;
    cards::Entity::update_many()
        .col_expr(cards::Column::StoredValue, Expr::value(false))
        .filter(cards::Column::Id.eq(card_id))
        .exec(&test_db.db)
        .await
        .unwrap();
    let member_id = seed_member(&test_db.db, card_id, "100000000009").await;
    let balance = NewEntry {
        kind: LedgerKind::Balance,
        ..credit(member_id, 500, "top-up")
    };
    let refused = ledger::append(&test_db.db, &balance).await.unwrap_err();
    assert!(
        matches!(
            refused,
            CoreError::Refused {
                refusal: kaika_core::Refusal::BalanceNotSupported,
                ..
            }
        ),
        "{refused:?}"
    );
    ledger::append(&test_db.db, &credit(member_id, 5, "points"))
        .await
        .unwrap();
    let entries = ledger::entries(&test_db.db, member_id).await.unwrap();
    assert_eq!(entries.len(), 1, "only the points entry");
    assert_eq!(entries[0].kind, "points");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_creating_the_first_owner_at_once_get_one_owner_and_conflicts() {
    use kaika_core::admin_users::Role;
    let test_db = TestDb::migrated().await;
    let results =
        futures::future::join_all((0..8).map(|_| {
            kaika_core::admin_users::create_user(&test_db.db, "admin", "hash", Role::Owner)
        }))
        .await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(CoreError::Conflict { .. })))
        .count();
    assert_eq!((created, conflicts), (1, 7), "{results:?}");
    assert_eq!(
        kaika_core::admin_users::count_users(&test_db.db)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn an_account_changed_on_another_instance_is_used_here_within_the_recheck_bound() {
    use kaika_core::accounts::{self, AppId, MessageMode, NewAccount, SecretText};
    use kaika_core::clients::{ClientConfig, Clients, RECHECK_EVERY};
    use kaika_core::secrets::MasterKey;

    let test_db = TestDb::migrated().await;
    let key = MasterKey::generate();
    accounts::add(
        &test_db.db,
        &key,
        NewAccount {
            name: "测试".into(),
            app_id: AppId::parse(APP).unwrap(),
            app_secret: SecretText::new("0123456789abcdef0123456789abcdef"),
            callback_token: "token".into(),
            encoding_aes_key: None,
            message_mode: MessageMode::Plain,
            mini_program: None,
            api_base_url: "http://127.0.0.1:9".into(),
            is_sandbox: false,
        },
    )
    .await
    .unwrap();
    // Two instances on one database, each with its own cache.
    let here = Clients::new(test_db.db.clone(), key.clone(), ClientConfig::default());
    let there = Clients::new(test_db.db.clone(), key, ClientConfig::default());
    let before = here.official_account(APP).await.unwrap();
    assert!(before.base_url().starts_with("http://127.0.0.1:9"));

    // The other instance moves the account (as the admin or the sandbox does) and forgets its own client.
    accounts::set_api_base_url(&test_db.db, APP, "http://127.0.0.1:10")
        .await
        .unwrap();
    there.forget(APP);
    assert!(there
        .official_account(APP)
        .await
        .unwrap()
        .base_url()
        .starts_with("http://127.0.0.1:10"));

    tokio::time::sleep(RECHECK_EVERY + Duration::from_millis(50)).await;
    let after = here.official_account(APP).await.unwrap();
    assert!(
        after.base_url().starts_with("http://127.0.0.1:10"),
        "still {}",
        after.base_url()
    );
    // Unchanged accounts keep their client, and with it the token cache.
    let again = here.official_account(APP).await.unwrap();
    assert_eq!(again.base_url(), after.base_url());
}
