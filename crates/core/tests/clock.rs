//! Leases follow the database's clock, not this process's. A binary of its own, because its test sets
//! this process's clock wrong, and the clock is one per process.

use chrono::TimeDelta;
use kaika_core::clients::Clients;
use kaika_core::clock;
use kaika_core::entity::wechat_events as event_rows;
use kaika_core::events::{self, Receipt, Worker, WorkerSettings};
use kaika_core::jobs::Rounds as _;
use kaika_core::secrets::MasterKey;
use kaika_core::testing::{seed_card, TestDb};
use kaika_wechat::event::Event;
use kaika_wechat::ClientConfig;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseBackend, EntityTrait, Set, Statement};

const CARD: &str = "pZI8Fjwsy5fVPRBeD78J4RmqVvBc";

#[tokio::test]
async fn a_process_whose_clock_runs_ahead_leaves_another_instances_live_claim_alone() {
    let test_db = TestDb::migrated().await;
    let db = &test_db.db;
    let (account_id, _) = seed_card(db, "wxb11529c136998cb6", CARD).await;
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[oA]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_get_card]]></Event>\
         <CardId><![CDATA[{CARD}]]></CardId><IsGiveByFriend>0</IsGiveByFriend>\
         <UserCardCode><![CDATA[500000000001]]></UserCardCode><OuterStr><![CDATA[shop1]]></OuterStr>\
         <IsRestoreMemberCard>0</IsRestoreMemberCard></xml>",
        clock::now().timestamp()
    );
    let event = Event::parse(&xml).unwrap();
    let Receipt::Stored(id) = events::store(db, account_id, &event, &xml).await.unwrap() else {
        panic!("the event was not stored");
    };

    // Another instance holds the event for another minute of the database's clock.
    let lease_until = clock::now() + TimeDelta::seconds(60);
    let mut held: event_rows::ActiveModel = events::get(db, id).await.unwrap().into();
    held.status = Set("processing".into());
    held.lease_holder = Set(Some("instance-b".into()));
    held.lease_until = Set(Some(lease_until));
    held.attempts = Set(1);
    held.update(db).await.unwrap();

    // This process's clock now runs five minutes ahead: by it, that lease ran out long ago.
    clock::set_local_error_for_tests(TimeDelta::minutes(5));
    assert!(clock::now() > lease_until);
    let offset = clock::sync(db).await.unwrap();
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let seconds = offset.num_milliseconds() as f64 / 1000.0;
            assert!(
                (-301.0..=-299.0).contains(&seconds),
                "measured offset {seconds}s"
            );
            let database_now: chrono::DateTime<chrono::Utc> = db
                .query_one(Statement::from_string(
                    DatabaseBackend::Postgres,
                    "SELECT clock_timestamp() AS now",
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get("", "now")
                .unwrap();
            assert!((clock::now() - database_now).abs() < TimeDelta::seconds(1));
            let worker = Worker::new(
                db.clone(),
                Clients::new(db.clone(), MasterKey::generate(), ClientConfig::default()),
                WorkerSettings::default(),
            );
            assert_eq!(worker.run_once().await.unwrap().claimed, 0);
            let row = event_rows::Entity::find_by_id(id)
                .one(db)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (
                    row.status.as_str(),
                    row.lease_holder.as_deref(),
                    row.attempts
                ),
                ("processing", Some("instance-b"), 1)
            );
        }
        // The file is on this machine: the database's clock is this process's, wrong or not.
        _ => assert_eq!(offset, TimeDelta::zero()),
    }
    clock::set_local_error_for_tests(TimeDelta::zero());
}
