using System.IO.Compression;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace OnnxLm.Hosting;

/// <summary>
/// The native libraries a published binary carries. The manifest has one <c>name\tsize\tsha256</c> line per file (written
/// at publish time by the csproj's PackNativeLibraries task); <see cref="Id"/> is the SHA-256 of the manifest text, so two
/// binaries with the same libraries share one cache directory and a different set never reuses a stale one.
/// </summary>
internal sealed class NativePayload
{
    public const string ManifestResource = "onnxlm.native/manifest.txt";
    const string ResourcePrefix = "onnxlm.native/";
    const string ResourceSuffix = ".deflate";

    readonly Func<string, Stream> open;

    NativePayload(IReadOnlyList<NativePayloadFile> files, string id, Func<string, Stream> open)
    {
        Files = files;
        Id = id;
        this.open = open;
    }

    public IReadOnlyList<NativePayloadFile> Files { get; }

    /// <summary>Lower-case hex SHA-256 of the manifest: the name of the content-addressed cache directory.</summary>
    public string Id { get; }

    /// <summary>The library's bytes (already decompressed); the caller verifies them against <see cref="NativePayloadFile.Sha256"/>.</summary>
    public Stream Open(string name) => open(name);

    /// <param name="manifest">Lines of <c>name\tsize\tsha256</c>.</param>
    /// <param name="open">Returns a readable stream of the named file's uncompressed bytes.</param>
    public static NativePayload Parse(string manifest, Func<string, Stream> open)
    {
        var files = new List<NativePayloadFile>();
        foreach (string line in manifest.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] parts = line.Split('\t');
            if (parts.Length != 3 || !long.TryParse(parts[1], out long size) || parts[2].Length != 64 ||
                parts[0].Contains('/') || parts[0].Contains('\\') || parts[0] is "." or "..")
                throw new InvalidDataException($"bad native payload manifest line '{line}'");
            files.Add(new NativePayloadFile(parts[0], size, parts[2].ToLowerInvariant()));
        }
        if (files.Count == 0) throw new InvalidDataException("empty native payload manifest");
        string id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(manifest)));
        return new NativePayload(files, id, open);
    }

    /// <summary>The payload embedded in <paramref name="assembly"/> by a publish build, or null (dotnet build/run, tests).</summary>
    public static NativePayload? FromAssembly(Assembly assembly)
    {
        using Stream? manifest = assembly.GetManifestResourceStream(ManifestResource);
        if (manifest is null) return null;
        using var reader = new StreamReader(manifest, Encoding.UTF8);
        return Parse(reader.ReadToEnd(), name =>
        {
            Stream packed = assembly.GetManifestResourceStream(ResourcePrefix + name + ResourceSuffix)
                            ?? throw new InvalidDataException($"native payload resource for '{name}' is missing");
            return new DeflateStream(packed, CompressionMode.Decompress);
        });
    }
}
