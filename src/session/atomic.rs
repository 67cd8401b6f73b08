//! Writes that never leave a half-written file behind: the bytes go to a temporary
//! file in the same folder, are flushed to disk, and the temporary file is renamed
//! over the target in one step.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` atomically, creating the folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(folder)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path has no file name"))?;
    let temp = folder.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));

    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        // The temporary file is useless now; the target was never touched.
        if let Err(err) = std::fs::remove_file(&temp) {
            log::debug!("could not remove {}: {err}", temp.display());
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("out.json");
        write_atomic(&path, b"first")?;
        write_atomic(&path, b"second")?;
        assert_eq!(std::fs::read(&path)?, b"second");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn failed_write_keeps_the_old_file() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("out.json");
        write_atomic(&path, b"kept")?;
        // A folder where the file should go makes the rename fail.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked)?;
        assert!(write_atomic(&blocked, b"x").is_err());
        assert_eq!(std::fs::read(&path)?, b"kept");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 2);
        Ok(())
    }
}
