namespace OnnxLm.Http;

/// <summary>Why a request was refused (the <c>reason</c> label of <c>onnxlm:requests_rejected_total</c>).</summary>
internal enum RejectReason
{
    BadRequest,
    ContextLength,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    TooLarge,
    UnsupportedMediaType,
    QueueFull,
    Unavailable,
    MemoryPressure,
    InternalError,
}
