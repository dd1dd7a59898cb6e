//! Tenants' signing keys: stored once, read back, rotated.

use ferry_core::signing::SigningKey;
use ferry_store::{KeyPair, Store};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::tenant;

fn key_pair() -> KeyPair {
    KeyPair {
        current: SigningKey::generate(),
        next: SigningKey::generate(),
    }
}

pub(crate) async fn signing_keys_are_stored_once_and_rotated(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    assert_eq!(store.signing_keys(&acme).await.unwrap(), None);
    assert_eq!(
        store
            .rotate_signing_keys(&acme, &SigningKey::generate())
            .await
            .unwrap(),
        None
    );

    let initial = key_pair();
    assert_eq!(
        store.ensure_signing_keys(&acme, &initial).await.unwrap(),
        initial
    );
    assert_eq!(
        store.ensure_signing_keys(&acme, &key_pair()).await.unwrap(),
        initial,
        "the keys in force win over new ones"
    );
    assert_eq!(
        store.signing_keys(&acme).await.unwrap(),
        Some(initial.clone())
    );
    assert_eq!(store.signing_keys(&globex).await.unwrap(), None);

    let new_next = SigningKey::generate();
    let rotated = KeyPair {
        current: initial.next.clone(),
        next: new_next.clone(),
    };
    assert_eq!(
        store.rotate_signing_keys(&acme, &new_next).await.unwrap(),
        Some(rotated.clone())
    );
    assert_eq!(store.signing_keys(&acme).await.unwrap(), Some(rotated));
    assert_eq!(store.signing_keys(&globex).await.unwrap(), None);
}
