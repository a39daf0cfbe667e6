namespace OnnxLm.Tests.Conformance;

/// <summary>One hostile request: what is sent, and whether an error answer must be OpenAI-shaped JSON (false only where
/// Kestrel itself may answer before the application, e.g. an over-long URL).</summary>
internal sealed record FuzzCase(string Name, HttpMethod Method, string Path, byte[]? Body, string? ContentType = "application/json",
    bool Chunked = false, bool ErrorIsOpenAiJson = true)
{
    public override string ToString() => $"{Method} {Path} [{Name}]";
}
