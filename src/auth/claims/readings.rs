//! The claims of one verified token read as callers' own types
//! ([`Claims::typed`](super::Claims::typed)), kept with the token so that a
//! remembered token hands out the same `Arc<T>` without parsing again.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::{Arc, RwLock};

/// handful of types at most; the bound only keeps a mistake (a type per
/// request) from growing a cached token without end.
const TYPED_PER_TOKEN: usize = 8;

/// The claims read as callers' types, keyed by type.
#[derive(Default)]
pub(super) struct Readings(RwLock<Vec<(TypeId, Arc<dyn Any + Send + Sync>)>>);

impl Readings {
    pub(super) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let id = TypeId::of::<T>();
        let entries = self.0.read().ok()?;
        let (_, value) = entries.iter().find(|(t, _)| *t == id)?;
        Arc::clone(value).downcast::<T>().ok()
    }

    pub(super) fn keep<T: Send + Sync + 'static>(&self, value: &Arc<T>) {
        let id = TypeId::of::<T>();
        // A poisoned lock only costs the cache: the value is still returned.
        if let Ok(mut entries) = self.0.write() {
            if entries.len() < TYPED_PER_TOKEN && !entries.iter().any(|(t, _)| *t == id) {
                entries.push((id, Arc::clone(value) as Arc<dyn Any + Send + Sync>));
            }
        }
    }
}

impl Clone for Readings {
    fn clone(&self) -> Self {
        let entries = self.0.read().map(|e| e.clone()).unwrap_or_default();
        Self(RwLock::new(entries))
    }
}

impl fmt::Debug for Readings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kept = self.0.read().map_or(0, |e| e.len());
        write!(f, "Readings({kept} types)")
    }
}
