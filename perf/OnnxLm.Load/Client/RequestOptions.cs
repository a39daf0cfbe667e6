namespace OnnxLm.Load.Client;

/// <summary>Fields every generated request carries (replay bodies keep their own unless a flag overrides them).
/// <paramref name="ResponseFormat"/>: the raw JSON object sent as <c>response_format</c> (structured output), or null.</summary>
public sealed record RequestOptions(string? Model, float Temperature, bool IgnoreEos, long? Seed, string? ResponseFormat = null);
