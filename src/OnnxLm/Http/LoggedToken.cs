namespace OnnxLm.Http;

/// <summary>A generated token remembered for a non-streamed response's logprobs (alternatives stay in the request).</summary>
internal readonly record struct LoggedToken(int TokenId, float Logprob, int Index, int TopCount, int TextOffset);
