//! An LRU cache of translations keyed on normalised source text: people repeat themselves
//! ("yes", "thank you", names), and a hit costs nothing.

use std::num::NonZeroUsize;

use lru::LruCache;

use super::{MtError, SourceSegment, Translator};
use crate::text::comparison_key;

/// Wraps a text translator with an LRU cache.
pub struct CachedTranslator<T> {
    inner: T,
    cache: LruCache<String, String>,
}

impl<T: Translator> CachedTranslator<T> {
    pub fn new(inner: T, capacity: NonZeroUsize) -> Self {
        Self { inner, cache: LruCache::new(capacity) }
    }
}

impl<T: Translator> Translator for CachedTranslator<T> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError> {
        let key = comparison_key(source.text);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit.clone());
        }
        let translated = self.inner.translate(source)?;
        self.cache.put(key, translated.clone());
        Ok(translated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts calls, so the test can see which requests reached the engine.
    struct Counting(usize);

    impl Translator for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError> {
            self.0 += 1;
            Ok(source.text.to_uppercase())
        }
    }

    fn segment(text: &str) -> SourceSegment<'_> {
        SourceSegment { text, audio: &[] }
    }

    #[test]
    fn repeated_text_is_served_from_the_cache() {
        let mut t = CachedTranslator::new(Counting(0), NonZeroUsize::new(2).unwrap());
        assert_eq!(t.translate(segment("hello")).unwrap(), "HELLO");
        assert_eq!(t.translate(segment("Hello!")).unwrap(), "HELLO");
        assert_eq!(t.inner.0, 1);
    }

    #[test]
    fn least_recently_used_entries_are_evicted() {
        let mut t = CachedTranslator::new(Counting(0), NonZeroUsize::new(2).unwrap());
        for text in ["a", "b", "c", "a"] {
            t.translate(segment(text)).unwrap();
        }
        assert_eq!(t.inner.0, 4);
    }
}
