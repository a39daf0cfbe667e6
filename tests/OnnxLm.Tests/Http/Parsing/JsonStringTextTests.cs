using System.Text;
using OnnxLm.Http.Parsing;

namespace OnnxLm.Tests.Http.Parsing;

/// <summary>The text check every kept string passes: raw UTF-8 validity and surrogate pairing of <c>\u</c> escapes.</summary>
public class JsonStringTextTests
{
    static string? Check(string raw) => JsonStringText.Check(Encoding.UTF8.GetBytes(raw), raw.Contains('\\', StringComparison.Ordinal));

    [Test]
    [Arguments("plain text")]
    [Arguments("")]
    [Arguments("h\\u00e9llo \\u4e16 \\ud83e\\udd80 end")]
    [Arguments("\\uD83E\\uDD80")]
    [Arguments("\\\\ud800")]                 // an escaped backslash then the letters "ud800": no surrogate at all
    [Arguments("\\n\\t\\\"\\/\\u0000")]
    [Arguments("日本語 🦀")]
    public async Task Text_and_paired_surrogate_escapes_are_accepted(string raw) =>
        await Assert.That(Check(raw)).IsNull();

    [Test]
    [Arguments("\\ud800")]
    [Arguments("a\\udc00b")]
    [Arguments("\\ud800\\ud800")]
    [Arguments("x\\ud83d")]
    [Arguments("\\ud83d\\n")]
    [Arguments("\\udd80\\ud83e")]              // the pair in the wrong order
    [Arguments("\\ud83e\\udd80\\udd80")]       // a valid pair, then a low surrogate alone
    public async Task Unpaired_surrogate_escapes_are_refused(string raw) =>
        await Assert.That(Check(raw)).IsEqualTo(JsonStringText.UnpairedSurrogate);

    [Test]
    public async Task Invalid_utf8_is_refused_even_when_escapes_look_fine()
    {
        byte[][] bad = [[0xFF], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF0, 0x9F, 0x98], [0x5C, 0x6E, 0x80]];
        foreach (var raw in bad)
            await Assert.That(JsonStringText.Check(raw, escaped: raw[0] == 0x5C)).IsEqualTo(JsonStringText.InvalidUtf8);
    }
}
