namespace OnnxLm.Http;

/// <summary>
/// CORS for browser clients. Off unless origins are configured: then a request whose <c>Origin</c> is allowed (or any
/// origin, for <c>*</c>) gets <c>Access-Control-Allow-Origin</c>, and its preflight <c>OPTIONS</c> is answered here with
/// 204 before authentication (browsers never send credentials on a preflight).
/// </summary>
internal sealed class CorsPolicy(IReadOnlyList<string> origins)
{
    const string AllowedMethods = "GET, POST, OPTIONS";
    const string DefaultAllowedHeaders = "Authorization, Content-Type, api-key, OpenAI-Organization, OpenAI-Project, X-Stainless-Lang, X-Stainless-Package-Version, X-Stainless-OS, X-Stainless-Arch, X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout";

    readonly bool any = origins.Contains("*");

    public bool IsEnabled => origins.Count > 0;

    /// <summary>Adds the CORS headers; true when the request was a preflight and has been answered.</summary>
    public bool Apply(HttpContext http)
    {
        var request = http.Request;
        string? origin = request.Headers.Origin;
        if (origin is null || !(any || Allowed(origin))) return false;
        var headers = http.Response.Headers;
        headers.AccessControlAllowOrigin = any ? "*" : origin;
        if (!any) headers.Vary = "Origin";
        if (!HttpMethods.IsOptions(request.Method) || request.Headers.AccessControlRequestMethod.Count == 0) return false;
        headers.AccessControlAllowMethods = AllowedMethods;
        string? asked = request.Headers.AccessControlRequestHeaders;
        headers.AccessControlAllowHeaders = string.IsNullOrEmpty(asked) ? DefaultAllowedHeaders : asked;
        headers.AccessControlMaxAge = "600";
        http.Response.StatusCode = StatusCodes.Status204NoContent;
        return true;
    }

    bool Allowed(string origin)
    {
        foreach (string o in origins)
            if (string.Equals(o, origin, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }
}
