//! Writes the JSON Schema of every registered event type under `schemas/events/`
//! (`just schemas`), removing files of types that are no longer registered.

use loopync_schemas::registry::{self, exported_schema, schema_file_name};
use std::path::Path;

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "json") {
            std::fs::remove_file(path)?;
        }
    }
    for info in registry::all() {
        let text = serde_json::to_string_pretty(&exported_schema(info))? + "\n";
        let path = dir.join(schema_file_name(info));
        std::fs::write(&path, text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
