using System.Text;
using OnnxLm.Load.Client;

namespace OnnxLm.Tests.Load;

/// <summary>SSE framing as the load generator reads it: events end at a blank line whatever the read boundaries and
/// line endings; data lines join with '\n'; comments and other fields are ignored.</summary>
public class SseReaderTests
{
    static async Task<List<string>> Events(string wire, int chunk, int bufferSize = 16 * 1024)
    {
        using var reader = new SseReader(new TrickleStream(Encoding.UTF8.GetBytes(wire), chunk), bufferSize);
        var events = new List<string>();
        while (await reader.ReadEventAsync(CancellationToken.None)) events.Add(Encoding.UTF8.GetString(reader.Data));
        return events;
    }

    [Test]
    [Arguments(1)]
    [Arguments(2)]
    [Arguments(7)]
    [Arguments(4096)]
    public async Task Events_are_the_same_for_every_read_size(int chunk)
    {
        const string wire = "data: {\"a\":1}\n\n: keep-alive comment\n\ndata: {\"b\":2}\r\n\r\nevent: x\ndata:no-space\r\rdata: [DONE]\n\n";
        var events = await Events(wire, chunk);
        await Assert.That(events).IsEquivalentTo(["{\"a\":1}", "{\"b\":2}", "no-space", "[DONE]"]);
    }

    [Test]
    public async Task Multi_line_data_is_joined_with_newlines()
    {
        var events = await Events("data: first\ndata: second\n\n", 3);
        await Assert.That(events).IsEquivalentTo(["first\nsecond"]);
    }

    [Test]
    public async Task Last_event_without_blank_line_is_still_delivered()
    {
        var events = await Events("data: one\n\ndata: two", 5);
        await Assert.That(events).IsEquivalentTo(["one", "two"]);
    }

    [Test]
    public async Task Event_longer_than_the_buffer_grows_it()
    {
        string big = new('x', 5000);
        var events = await Events($"data: {big}\n\ndata: end\n\n", 300, bufferSize: 64);
        await Assert.That(events.Count).IsEqualTo(2);
        await Assert.That(events[0]).IsEqualTo(big);
        await Assert.That(events[1]).IsEqualTo("end");
    }
}
