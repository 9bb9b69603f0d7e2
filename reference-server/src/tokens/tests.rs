//! The token store's unit tests.

use super::*;

pub(crate) fn record(client: &str, exp: u64) -> TokenRecord {
    TokenRecord {
        client_id: client.into(),
        realm: "root".into(),
        scope: "read".into(),
        issued_at: 0,
        expires_at: exp,
        jti: Jti::random(),
        jkt: None,
        x5t: None,
        scope_hidden: false,
        replica: Default::default(),
    }
}

#[test]
fn tokens_are_long_and_distinct() {
    let a = random_token(32);
    assert_eq!(a.len(), 43);
    assert_ne!(a, random_token(32));
    let j = Jti::random();
    assert_eq!(j.as_str().len(), 22);
    assert_ne!(j, Jti::random());
}

#[test]
fn purge_drops_only_expired() {
    let store = TokenStore::default();
    store.insert("old", record("a", 10)).unwrap();
    store.insert("new", record("a", 100)).unwrap();
    assert_eq!(store.purge_expired(50), 1);
    assert!(store.get("old").is_none());
    assert!(store.get("new").is_some());
}

#[test]
fn opaque_tokens_are_held_by_their_bytes_and_others_by_their_text() {
    let store = TokenStore::with_capacity(100);
    let opaque = OpaqueToken::random();
    let opaque = opaque.as_str();
    assert!(random_bytes(opaque).is_some());
    // The same bytes, with the last character's unused bits set: not the same token.
    let mut twin = opaque.to_owned();
    let last = twin.pop().unwrap();
    let flipped = base64::alphabet::URL_SAFE.as_str().as_bytes()
        [(base64::alphabet::URL_SAFE.as_str().find(last).unwrap() + 1) % 64]
        as char;
    twin.push(flipped);
    let jwt = "eyJ.eyJ.sig";
    store.insert(opaque, record("a", 10)).unwrap();
    store.insert(jwt, record("b", 20)).unwrap();
    assert_eq!(&*store.get(opaque).unwrap().client_id, "a");
    assert_eq!(
        store.read(jwt, |r| r.client_id.clone()).as_deref(),
        Some("b")
    );
    assert!(store.get(&twin).is_none(), "{twin} is not {opaque}");
    assert!(store.get(&opaque[..42]).is_none());
    let mut held = store.tokens();
    held.sort();
    let mut expected = vec![opaque.to_owned(), jwt.to_owned()];
    expected.sort();
    assert_eq!(held, expected);
    assert_eq!(store.purge_expired(15), 1);
    assert!(store.get(opaque).is_none() && store.get(jwt).is_some());
    assert_eq!(store.purge_expired(25), 1);
    assert!(store.is_empty());
}

#[test]
fn the_table_decoder_agrees_with_base64() {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for _ in 0..200 {
        let token = OpaqueToken::random();
        assert_eq!(token.as_str(), engine.encode(token.bytes));
        let expected = engine.decode(token.as_str()).unwrap();
        assert_eq!(random_bytes(token.as_str()).unwrap().to_vec(), expected);
    }
    for junk in [
        "",
        "a",
        &"A".repeat(44),
        &"A".repeat(42),
        &format!("{}+", "A".repeat(42)),
    ] {
        assert!(random_bytes(junk).is_none(), "{junk}");
    }
    // Every last character: canonical ones only (the base64 engine refuses the others).
    for c in base64::alphabet::URL_SAFE.as_str().chars() {
        let text = format!("{}{c}", "A".repeat(42));
        assert_eq!(
            random_bytes(&text).is_some(),
            engine.decode(&text).is_ok(),
            "{text}"
        );
    }
}

#[test]
fn revoke_respects_the_predicate() {
    let store = TokenStore::default();
    store.insert("t", record("a", 100)).unwrap();
    let (_, removed) = store.revoke_if("t", |r| &*r.client_id == "b").unwrap();
    assert!(!removed);
    let (_, removed) = store.revoke_if("t", |r| &*r.client_id == "a").unwrap();
    assert!(removed);
    assert!(store.revoke_if("t", |_| true).is_none());
    assert_eq!(store.len(), 0);
}

#[test]
fn a_full_store_refuses_until_tokens_go() {
    let store = TokenStore::with_capacity(3);
    let now = unix_now();
    for (i, ttl) in [30, 10, 20].into_iter().enumerate() {
        store
            .insert(&format!("t{i}"), record("a", now + ttl))
            .unwrap();
    }
    let full = store.insert("t3", record("a", now + 5)).unwrap_err();
    assert!((9..=10).contains(&full.retry_after), "{full:?}");
    assert_eq!(store.len(), 3);
    assert!(store.get("t3").is_none());
    store.revoke_if("t0", |_| true).unwrap();
    store.insert("t3", record("a", now + 5)).unwrap();
    assert!(store.insert("t4", record("a", now + 5)).is_err());
    assert_eq!(store.purge_expired(now + 15), 2, "t1 and t3 expired");
    assert_eq!(store.len(), 1);
    store.insert("t4", record("a", now + 5)).unwrap();
}
