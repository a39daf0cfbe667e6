namespace OnnxLm.Load.Client;

/// <summary>Fields every generated request carries (replay bodies keep their own unless a flag overrides them).</summary>
public sealed record RequestOptions(string? Model, float Temperature, bool IgnoreEos, long? Seed);
