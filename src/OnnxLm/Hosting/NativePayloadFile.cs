namespace OnnxLm.Hosting;

/// <summary>One native library carried by the binary: its file name, length and SHA-256 (lower-case hex).</summary>
internal readonly record struct NativePayloadFile(string Name, long Size, string Sha256);
