using System.Security.Cryptography;
using System.Text;
using OnnxLm.Hosting;

namespace OnnxLm.Tests.Packaging;

/// <summary>
/// <see cref="NativeLibraryCache"/> against a fake payload (random "libraries" held in memory): first run extracts,
/// later runs reuse without rewriting, altered or missing files are replaced, concurrent starts extract once, and a
/// payload that does not match its manifest never becomes a trusted directory.
/// </summary>
public class NativeLibraryCacheTests
{
    sealed class FakePayload
    {
        public readonly Dictionary<string, byte[]> Files = new(StringComparer.Ordinal);
        public int Opens;
        public Func<string, byte[]>? Override;

        public FakePayload(int seed, params (string Name, int Size)[] files)
        {
            var random = new Random(seed);
            foreach (var (name, size) in files)
            {
                byte[] data = new byte[size];
                random.NextBytes(data);
                Files[name] = data;
            }
        }

        public NativePayload Build()
        {
            var manifest = new StringBuilder();
            foreach (var (name, data) in Files)
                manifest.Append(name).Append('\t').Append(data.Length).Append('\t').Append(Convert.ToHexStringLower(SHA256.HashData(data))).Append('\n');
            return NativePayload.Parse(manifest.ToString(), name =>
            {
                Interlocked.Increment(ref Opens);
                return new MemoryStream(Override?.Invoke(name) ?? Files[name], writable: false);
            });
        }
    }

    static FakePayload Libraries(int seed = 1) =>
        new(seed, ("libonnxruntime.so", 300_000), ("libonnxruntime_providers_shared.so", 1_000), ("libonnxruntime-genai.so", 200_000));

    static string TempRoot() => Path.Combine(Path.GetTempPath(), $"onnxlm-native-{Guid.NewGuid():N}");

    static async Task AssertMatches(string dir, FakePayload fake)
    {
        foreach (var (name, data) in fake.Files)
            await Assert.That(File.ReadAllBytes(Path.Combine(dir, name)).AsSpan().SequenceEqual(data)).IsTrue();
    }

    static void Cleanup(string root)
    {
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }

    [Test]
    public async Task First_run_extracts_into_a_directory_named_by_the_manifest_hash()
    {
        string root = TempRoot();
        try
        {
            var fake = Libraries();
            var payload = fake.Build();
            var result = NativeLibraryCache.Ensure(root, payload);
            await Assert.That(result.Outcome).IsEqualTo(NativeCacheOutcome.Extracted);
            await Assert.That(result.Directory).IsEqualTo(Path.Combine(root, payload.Id));
            await Assert.That(payload.Id.Length).IsEqualTo(64);
            await AssertMatches(result.Directory, fake);
            await Assert.That(File.Exists(Path.Combine(result.Directory, NativeLibraryCache.StampFileName))).IsTrue();
            // Only the final directory and the lock file remain: no temporary directories.
            await Assert.That(Directory.GetDirectories(root).Length).IsEqualTo(1);
        }
        finally { Cleanup(root); }
    }

    [Test]
    public async Task Second_run_reuses_without_reading_the_payload_or_touching_the_files()
    {
        string root = TempRoot();
        try
        {
            var fake = Libraries();
            var first = NativeLibraryCache.Ensure(root, fake.Build());
            string lib = Path.Combine(first.Directory, "libonnxruntime.so");
            var before = File.GetLastWriteTimeUtc(lib);
            int opens = fake.Opens;

            var second = NativeLibraryCache.Ensure(root, fake.Build());
            await Assert.That(second.Outcome).IsEqualTo(NativeCacheOutcome.Reused);
            await Assert.That(second.Directory).IsEqualTo(first.Directory);
            await Assert.That(fake.Opens).IsEqualTo(opens);
            await Assert.That(File.GetLastWriteTimeUtc(lib)).IsEqualTo(before);
        }
        finally { Cleanup(root); }
    }

    [Test]
    public async Task A_changed_byte_is_detected_and_the_directory_replaced()
    {
        string root = TempRoot();
        try
        {
            var fake = Libraries();
            string dir = NativeLibraryCache.Ensure(root, fake.Build()).Directory;
            string lib = Path.Combine(dir, "libonnxruntime-genai.so");
            using (var f = new FileStream(lib, FileMode.Open, FileAccess.ReadWrite))
            {
                f.Position = 12_345;
                int b = f.ReadByte();
                f.Position = 12_345;
                f.WriteByte((byte)(b ^ 0xFF));
            }
            // Some file systems keep coarse times: make sure the write is visible as a time change.
            File.SetLastWriteTimeUtc(lib, DateTime.UtcNow.AddMinutes(-3));

            var result = NativeLibraryCache.Ensure(root, fake.Build());
            await Assert.That(result.Outcome).IsEqualTo(NativeCacheOutcome.Replaced);
            await Assert.That(result.Problem!).Contains("libonnxruntime-genai.so");
            await Assert.That(result.Directory).IsEqualTo(dir);
            await AssertMatches(dir, fake);
            await Assert.That(NativeLibraryCache.Ensure(root, fake.Build()).Outcome).IsEqualTo(NativeCacheOutcome.Reused);
            await Assert.That(Directory.GetDirectories(root).Length).IsEqualTo(1);
        }
        finally { Cleanup(root); }
    }

    [Test]
    public async Task A_missing_or_truncated_library_is_re_extracted()
    {
        string root = TempRoot();
        try
        {
            var fake = Libraries();
            string dir = NativeLibraryCache.Ensure(root, fake.Build()).Directory;
            File.Delete(Path.Combine(dir, "libonnxruntime_providers_shared.so"));
            var missing = NativeLibraryCache.Ensure(root, fake.Build());
            await Assert.That(missing.Outcome).IsEqualTo(NativeCacheOutcome.Replaced);
            await Assert.That(missing.Problem!).Contains("missing");

            using (var f = new FileStream(Path.Combine(dir, "libonnxruntime.so"), FileMode.Open)) f.SetLength(100);
            var truncated = NativeLibraryCache.Ensure(root, fake.Build());
            await Assert.That(truncated.Outcome).IsEqualTo(NativeCacheOutcome.Replaced);
            await AssertMatches(dir, fake);
        }
        finally { Cleanup(root); }
    }

    [Test]
    public async Task A_touched_but_unchanged_library_is_rehashed_once_then_trusted_again()
    {
        string root = TempRoot();
        try
        {
            var fake = Libraries();
            string dir = NativeLibraryCache.Ensure(root, fake.Build()).Directory;
            string lib = Path.Combine(dir, "libonnxruntime.so");
            File.SetLastWriteTimeUtc(lib, DateTime.UtcNow.AddHours(-1));
            int opens = fake.Opens;

            await Assert.That(NativeLibraryCache.Ensure(root, fake.Build()).Outcome).IsEqualTo(NativeCacheOutcome.Verified);
            await Assert.That(NativeLibraryCache.Ensure(root, fake.Build()).Outcome).IsEqualTo(NativeCacheOutcome.Reused);
            await Assert.That(fake.Opens).IsEqualTo(opens);   // verified in place, not re-extracted
        }
        finally { Cleanup(root); }
    }

    [Test]
    public async Task Concurrent_starts_extract_once_and_all_use_one_valid_directory()
    {
        string root = TempRoot();
        try
        {
            var fake = Libraries();
            const int Starts = 6;
            using var barrier = new Barrier(Starts);
            var results = new NativeCacheResult[Starts];
            var threads = new Thread[Starts];
            for (int i = 0; i < Starts; i++)
            {
                int index = i;
                threads[i] = new Thread(() =>
                {
                    var payload = fake.Build();
                    barrier.SignalAndWait();
                    results[index] = NativeLibraryCache.Ensure(root, payload);
                });
                threads[i].Start();
            }
            foreach (var t in threads) t.Join();

            int extracted = results.Count(r => r.Outcome == NativeCacheOutcome.Extracted);
            await Assert.That(extracted).IsEqualTo(1);
            await Assert.That(results.Select(r => r.Directory).Distinct().Count()).IsEqualTo(1);
            await AssertMatches(results[0].Directory, fake);
            await Assert.That(Directory.GetDirectories(root).Length).IsEqualTo(1);
        }
        finally { Cleanup(root); }
    }

    [Test]
    public async Task A_payload_that_does_not_match_its_manifest_leaves_no_directory()
    {
        string root = TempRoot();
        try
        {
            var fake = Libraries();
            fake.Override = name => name == "libonnxruntime.so" ? new byte[fake.Files[name].Length] : fake.Files[name];
            var payload = fake.Build();
            await Assert.That(() => NativeLibraryCache.Ensure(root, payload)).Throws<InvalidDataException>();
            await Assert.That(Directory.Exists(Path.Combine(root, payload.Id))).IsFalse();
            await Assert.That(Directory.GetDirectories(root).Length).IsEqualTo(0);
        }
        finally { Cleanup(root); }
    }

    [Test]
    public async Task Different_libraries_get_a_different_directory()
    {
        string root = TempRoot();
        try
        {
            var a = NativeLibraryCache.Ensure(root, Libraries(seed: 1).Build());
            var b = NativeLibraryCache.Ensure(root, Libraries(seed: 2).Build());
            await Assert.That(b.Directory).IsNotEqualTo(a.Directory);
            await Assert.That(b.Outcome).IsEqualTo(NativeCacheOutcome.Extracted);
        }
        finally { Cleanup(root); }
    }

    [Test]
    [Arguments("libonnxruntime.so\t10")]
    [Arguments("../evil.so\t10\t0000000000000000000000000000000000000000000000000000000000000000")]
    [Arguments("")]
    public async Task A_malformed_manifest_is_rejected(string manifest)
    {
        await Assert.That(() => NativePayload.Parse(manifest, _ => Stream.Null)).Throws<InvalidDataException>();
    }
}
