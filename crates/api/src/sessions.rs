//! A node's short-lived memory of session lookups. During a rush every request of a buyer
//! carries the same token; reading it from the database each time is a query per request. A
//! session read is reused for at most `ttl` (2 s by default) after it was read: a hint that
//! says who is asking, never the arbiter of anything the database decides.
//!
//! A logout, a new login over an old token, a disabled account or a changed role made through
//! this node drops the entries concerned at once. Made through another node, the change
//! reaches this one when the entry ages out: within `ttl` (the database deleted the sessions,
//! so the next read finds none). Only sessions that exist are kept — an unknown token is
//! asked for each time, so made-up tokens cannot fill the cache — and at most
//! [`MAX_SESSIONS`]; a full cache is emptied and starts over.

use marquee_domain::Result;
use marquee_domain::account::User;
use marquee_domain::ids::UserId;
use marquee_store::AccountStore;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use time::{Duration, OffsetDateTime};

/// Most sessions remembered at once (a few hundred bytes each).
pub const MAX_SESSIONS: usize = 100_000;

pub struct SessionCache {
    ttl: Duration,
    /// By token hash: the session's user and when it was read.
    entries: Mutex<HashMap<String, (User, OffsetDateTime)>>,
}

impl SessionCache {
    /// A cache whose entries live `ttl`; zero reads every lookup from the database.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The user of a live session, from memory when read less than `ttl` ago.
    pub async fn user(
        &self,
        store: &dyn AccountStore,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<User>> {
        if self.ttl.is_positive() {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((user, read_at)) = entries.get(token_hash)
                && (*read_at..*read_at + self.ttl).contains(&now)
            {
                return Ok(Some(user.clone()));
            }
        }
        let user = store.session_user(token_hash, now).await?;
        if self.ttl.is_positive() {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            match &user {
                Some(user) => {
                    if entries.len() >= MAX_SESSIONS {
                        entries.clear();
                    }
                    entries.insert(token_hash.to_owned(), (user.clone(), now));
                }
                None => {
                    entries.remove(token_hash);
                }
            }
        }
        Ok(user)
    }

    /// Ends a session: deleted in the database, forgotten here.
    pub async fn end(&self, store: &dyn AccountStore, token_hash: &str) -> Result<()> {
        store.delete_session(token_hash).await?;
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).remove(token_hash);
        Ok(())
    }

    /// Forgets every session of a user whose account changed (disabled, another role).
    pub fn forget_user(&self, user_id: &UserId) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (user, _)| &user.id != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marquee_domain::account::{Email, Role};
    use marquee_store::testing::TestDatabase;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    async fn ada(store: &dyn AccountStore) -> User {
        let user = User {
            id: UserId::generate(),
            email: Email::parse("ada@example.com").unwrap(),
            role: Role::Customer,
            created_at: NOW,
            disabled_at: None,
        };
        store.create_user(&user, "hash").await.unwrap();
        store.create_session("t1", &user.id, NOW, NOW + Duration::days(1)).await.unwrap();
        user
    }

    #[tokio::test]
    async fn a_session_is_read_again_once_its_entry_aged_out_and_never_after_it_ended() {
        let database = TestDatabase::sqlite();
        let store = database.store().await;
        let ada = ada(store.as_ref()).await;
        let cache = SessionCache::new(Duration::seconds(2));
        assert_eq!(cache.user(store.as_ref(), "t1", NOW).await.unwrap().map(|u| u.id), Some(ada.id.clone()));

        // Ended behind this node's back (another node): remembered until the entry ages out.
        store.delete_session("t1").await.unwrap();
        let soon = NOW + Duration::milliseconds(1_999);
        assert!(cache.user(store.as_ref(), "t1", soon).await.unwrap().is_some(), "within the ttl");
        let later = NOW + Duration::seconds(2);
        assert!(cache.user(store.as_ref(), "t1", later).await.unwrap().is_none(), "read again, gone");

        // Ended through this node: forgotten at once.
        store.create_session("t2", &ada.id, NOW, NOW + Duration::days(1)).await.unwrap();
        assert!(cache.user(store.as_ref(), "t2", NOW).await.unwrap().is_some());
        cache.end(store.as_ref(), "t2").await.unwrap();
        assert!(cache.user(store.as_ref(), "t2", NOW).await.unwrap().is_none());

        // An account changed through this node: its sessions are read again.
        store.create_session("t3", &ada.id, NOW, NOW + Duration::days(1)).await.unwrap();
        assert!(cache.user(store.as_ref(), "t3", NOW).await.unwrap().is_some());
        store.set_user_disabled(&ada.id, true, NOW).await.unwrap();
        cache.forget_user(&ada.id);
        assert!(cache.user(store.as_ref(), "t3", NOW).await.unwrap().is_none(), "disabling ended it");

        // Unknown tokens are not remembered; a zero ttl remembers nothing.
        assert!(cache.user(store.as_ref(), "made-up", NOW).await.unwrap().is_none());
        assert!(cache.entries.lock().unwrap().is_empty());
        let uncached = SessionCache::new(Duration::ZERO);
        store.create_session("t4", &ada.id, NOW, NOW + Duration::days(1)).await.unwrap();
        uncached.user(store.as_ref(), "t4", NOW).await.unwrap();
        assert!(uncached.entries.lock().unwrap().is_empty());
    }
}
