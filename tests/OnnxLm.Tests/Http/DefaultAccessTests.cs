using System.Net;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>Without flags: no keys asked, no CORS headers.</summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class DefaultAccessTests(ServerFixture fixture)
{
    [Test]
    public async Task Cors_is_off_by_default()
    {
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        preflight.Headers.Add("Origin", "http://chat.example");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        using var response = await fixture.Client.SendAsync(preflight);
        await Assert.That(response.StatusCode).IsNotEqualTo(HttpStatusCode.NoContent);
        await Assert.That(response.Headers.Contains("Access-Control-Allow-Origin")).IsFalse();
        using var models = await fixture.Client.GetAsync("/v1/models");
        await Assert.That(models.StatusCode).IsEqualTo(HttpStatusCode.OK);
    }
}
