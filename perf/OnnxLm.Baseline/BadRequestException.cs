namespace OnnxLm.Baseline;

/// <summary>A request the baseline cannot serve; answered with HTTP 400 and the message.</summary>
public sealed class BadRequestException(string message) : Exception(message);
