using OnnxLm.Engine.Model;

namespace OnnxLm.Tests.Model;

/// <summary>
/// <see cref="ModelContentHash"/>: a pulled file (a snapshot symlink into <c>blobs/</c>) is identified by its verified blob
/// name without reading it; any other file by a hash of all its bytes, kept in the cache file and used again while the
/// file's length and mtime stay; a change in the middle of a file changes its identity (a sample of its ends would not).
/// </summary>
public sealed class ModelContentHashTests : IDisposable
{
    readonly string root = Path.Combine(Path.GetTempPath(), "onnxlm-content-hash-tests", Guid.NewGuid().ToString("N"));

    public ModelContentHashTests() => Directory.CreateDirectory(root);

    [Test]
    public async Task A_pulled_file_is_its_blob_name()
    {
        string blobs = Path.Combine(root, "models--org--name", "blobs"), snapshot = Path.Combine(root, "models--org--name", "snapshots", "abc");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        string sha = new('a', 64);
        await File.WriteAllBytesAsync(Path.Combine(blobs, sha), new byte[100]);
        File.CreateSymbolicLink(Path.Combine(snapshot, "model.onnx.data"), Path.Combine("..", "..", "blobs", sha));
        await Assert.That(ModelContentHash.Of(Path.Combine(snapshot, "model.onnx.data"), null)).IsEqualTo("blob:" + sha);
    }

    [Test]
    public async Task Other_files_are_hashed_whole_and_the_hash_is_cached_by_length_and_mtime()
    {
        string file = Path.Combine(root, "model.onnx.data"), cache = Path.Combine(root, "kv", "content-hashes.tsv");
        var bytes = new byte[5 << 20];
        new Random(1).NextBytes(bytes);
        await File.WriteAllBytesAsync(file, bytes);
        string first = ModelContentHash.Of(file, cache);
        await Assert.That(first).StartsWith("xxh128:");
        await Assert.That(File.Exists(cache)).IsTrue();

        // One byte in the middle, same length and mtime: the cache (keyed by length and mtime) still answers...
        var mtime = File.GetLastWriteTimeUtc(file);
        bytes[bytes.Length / 2] ^= 1;
        await File.WriteAllBytesAsync(file, bytes);
        File.SetLastWriteTimeUtc(file, mtime);
        await Assert.That(ModelContentHash.Of(file, cache)).IsEqualTo(first);
        // ...and without the cache the whole-file hash sees the change.
        string changed = ModelContentHash.Of(file, null);
        await Assert.That(changed).IsNotEqualTo(first);
        // A new mtime makes the cache hash the file again.
        File.SetLastWriteTimeUtc(file, mtime.AddSeconds(1));
        await Assert.That(ModelContentHash.Of(file, cache)).IsEqualTo(changed);
    }

    public void Dispose()
    {
        try { Directory.Delete(root, recursive: true); }
        catch (IOException) { }
    }
}
