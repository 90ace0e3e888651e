//! One page of the gallery: greyscale results, newest first, each with the original it
//! was made from (named in the result's store metadata, so the pairing survives
//! restarts and is the same for every replica and deployment).

use greyfaas_store::{Area, ListedObject, ObjectInfo, ObjectPath, Store, StoreError};
use serde_json::{Value, json};

/// `{"page", "pages", "per_page", "total", "items": [{"processed": …, "original": …}]}`.
/// `original` is null when the result names no source (stored before sources were
/// recorded) or the source is gone.
pub async fn page(store: &Store, page: usize, per_page: usize) -> Result<Value, StoreError> {
    store.ensure_buckets().await?;
    let mut results = store.list_objects(Area::Processed).await?;
    // Newest first; the name breaks ties so pages are stable.
    results.sort_by(|a, b| {
        b.last_modified_ms
            .cmp(&a.last_modified_ms)
            .then_with(|| a.name.cmp(&b.name))
    });
    let total = results.len();
    let pages = total.div_ceil(per_page).max(1);
    let mut items = Vec::new();
    for listed in results.iter().skip((page - 1) * per_page).take(per_page) {
        // Only well-named objects are shown: a name is proof of content.
        let Ok(path) = ObjectPath::parse(&format!("/{}/{}", Area::Processed.as_str(), listed.name))
        else {
            continue;
        };
        let info = match store.head(&path).await {
            Ok(info) => info,
            Err(StoreError::NotFound(_)) => continue, // deleted since the listing
            Err(e) => return Err(e),
        };
        let original = original_of(store, &info).await?;
        items.push(json!({
            "processed": describe(&path, &info, Some(listed)),
            "original": original,
        }));
    }
    Ok(json!({
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "total": total,
        "items": items,
    }))
}

/// The source object a result names, described, or null.
async fn original_of(store: &Store, result: &ObjectInfo) -> Result<Value, StoreError> {
    let Some(path) = result
        .source
        .as_deref()
        .and_then(|s| ObjectPath::parse(s).ok())
    else {
        return Ok(Value::Null);
    };
    match store.head(&path).await {
        Ok(info) => Ok(describe(&path, &info, None)),
        Err(StoreError::NotFound(_)) => Ok(Value::Null),
        Err(e) => Err(e),
    }
}

fn describe(path: &ObjectPath, info: &ObjectInfo, listed: Option<&ListedObject>) -> Value {
    json!({
        "path": path.to_string(),
        "name": path.name.as_str(),
        "content_type": info.content_type,
        "bytes": info.content_length,
        "modified_ms": listed.map(|l| l.last_modified_ms),
    })
}
