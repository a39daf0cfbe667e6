namespace OnnxLm.Http;

/// <summary>Which log-probability shape a response carries.</summary>
internal enum LogprobsMode : byte
{
    None,
    /// <summary>Chat: <c>logprobs.content[]</c> of {token, logprob, bytes, top_logprobs}.</summary>
    Chat,
    /// <summary>Text completions: <c>logprobs</c> {tokens, token_logprobs, top_logprobs, text_offset}.</summary>
    Legacy,
}
