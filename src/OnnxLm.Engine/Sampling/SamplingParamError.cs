namespace OnnxLm.Engine.Sampling;

/// <summary>Why a request's sampling parameters were rejected. <paramref name="Param"/> is the OpenAI request
/// field name (e.g. <c>top_p</c>), so the HTTP layer can put it in the error body's <c>param</c>.</summary>
public readonly record struct SamplingParamError(string Param, string Message);
