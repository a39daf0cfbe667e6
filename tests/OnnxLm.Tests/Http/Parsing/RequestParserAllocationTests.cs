using OnnxLm.Http.Parsing;

namespace OnnxLm.Tests.Http.Parsing;

/// <summary>The steady-state contract: parsing into a reused instance allocates nothing once pools have grown.</summary>
public class RequestParserAllocationTests
{
    [Test]
    public async Task Typical_chat_request_parses_without_allocating_after_warm_up()
    {
        byte[] json = SampleRequests.TypicalChat();
        await Assert.That(json.Length).IsBetween(3500, 5000);
        var body = new ChatCompletionBody();
        long allocated = MeasureParse(json, body, out bool allOk);
        await Assert.That(allOk).IsTrue();
        await Assert.That(allocated).IsEqualTo(0L);
    }

    [Test]
    public async Task Completion_request_with_token_prompt_parses_without_allocating_after_warm_up()
    {
        byte[] json = "{\"model\":\"m\",\"prompt\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18],\"max_tokens\":16,\"stop\":\"\\n\",\"logit_bias\":{\"1\":-1},\"stream\":true,\"stream_options\":{\"include_usage\":true}}"u8.ToArray();
        var body = new CompletionBody();
        long allocated = MeasureParse(json, body, out bool allOk);
        await Assert.That(allOk).IsTrue();
        await Assert.That(allocated).IsEqualTo(0L);
    }

    // Synchronous on purpose: the measured window must not span an await (another thread could resume it).
    static long MeasureParse(byte[] json, ChatCompletionBody body, out bool allOk)
    {
        allOk = true;
        for (int i = 0; i < 3; i++) allOk &= ChatCompletionBody.TryParse(json, body, out _);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) allOk &= ChatCompletionBody.TryParse(json, body, out _);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    static long MeasureParse(byte[] json, CompletionBody body, out bool allOk)
    {
        allOk = true;
        for (int i = 0; i < 3; i++) allOk &= CompletionBody.TryParse(json, body, out _);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) allOk &= CompletionBody.TryParse(json, body, out _);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
