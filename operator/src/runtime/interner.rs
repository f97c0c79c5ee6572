//! [`Interner`]: text that many cached objects repeat, held once.
//!
//! At 10 000 Members the caches hold about 100 000 tenant objects and
//! 220 000 UsageRecords, and most of their text is the same from one to the
//! next: every tenant's `default-deny` policy has the same spec, the nine
//! objects of a tenant carry the same labels, and a Member's 22 records name
//! it 22 times. Interned, each of those texts is one allocation.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
};

/// Below this many texts, the interner does not look for unused ones.
const FIRST_SWEEP: usize = 1024;

/// A set of shared texts; clones share it. Texts no cached object holds any
/// more (a deleted Member's) are forgotten as the set grows: each time it
/// doubles since the last sweep, so the sweeps cost O(1) per text.
#[derive(Clone, Debug, Default)]
pub struct Interner(Arc<Mutex<Texts>>);

#[derive(Debug, Default)]
struct Texts {
    shared: HashSet<Arc<str>>,
    next_sweep: usize,
}

impl Interner {
    /// `text`, shared with every earlier text equal to it.
    pub fn share(&self, text: &str) -> Arc<str> {
        let mut texts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = texts.shared.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        texts.shared.insert(shared.clone());
        if texts.shared.len() >= texts.next_sweep {
            // Only the set holds those: nothing cached uses them any more.
            texts.shared.retain(|text| Arc::strong_count(text) > 1);
            texts.next_sweep = (texts.shared.len() * 2).max(FIRST_SWEEP);
        }
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_allocation() {
        let interner = Interner::default();
        let first = interner.share("socle-tenant-admin");
        let second = interner.share(&String::from("socle-tenant-admin"));
        assert!(Arc::ptr_eq(&first, &second));
        assert!(!Arc::ptr_eq(&first, &interner.share("default-deny")));
        assert_eq!(&*first, "socle-tenant-admin");
    }

    #[test]
    fn texts_nothing_holds_are_forgotten_as_the_set_grows() {
        let interner = Interner::default();
        let kept = interner.share("kept");
        for n in 0..FIRST_SWEEP * 4 {
            // Dropped at once: only the set holds it.
            interner.share(&format!("gone-{n}"));
        }
        let held = interner.0.lock().unwrap().shared.len();
        assert!(
            held <= FIRST_SWEEP,
            "{held} texts held, most of them unused"
        );
        assert!(
            Arc::ptr_eq(&kept, &interner.share("kept")),
            "a used text stays shared"
        );
    }
}
