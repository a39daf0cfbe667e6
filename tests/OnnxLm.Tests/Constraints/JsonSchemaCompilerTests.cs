using System.Text;
using OnnxLm.Engine.Constraints;

namespace OnnxLm.Tests.Constraints;

/// <summary>What the compiler enforces, narrows and refuses; refusals name the keyword and its JSON pointer.</summary>
public class JsonSchemaCompilerTests
{
    [Test]
    [Arguments("""{"type":"string","pattern":"^(?=a)"}""", "pattern", "")]
    [Arguments("""{"type":"string","pattern":"(a)\\1"}""", "pattern", "")]
    [Arguments("""{"type":"string","pattern":"^a|b$"}""", "pattern", "")]
    [Arguments("""{"properties":{"h":{"type":"string","format":"hostname"}}}""", "format", "/properties/h")]
    [Arguments("""{"type":"string","format":"email","maxLength":100}""", "maxLength", "")]
    [Arguments("""{"properties":{"a":{"type":"array","uniqueItems":true}}}""", "uniqueItems", "/properties/a")]
    [Arguments("""{"properties":{"a~b/c":{"not":{"type":"null"}}}}""", "not", "/properties/a~0b~1c")]
    [Arguments("""{"type":"number","minimum":0.0000000001}""", "minimum", "")]
    [Arguments("""{"type":"integer","multipleOf":3}""", "multipleOf", "")]
    [Arguments("""{"type":"object","patternProperties":{"^x":{}}}""", "patternProperties", "")]
    [Arguments("""{"type":"object","minProperties":2,"properties":{"a":{}}}""", "minProperties", "")]
    [Arguments("""{"anyOf":[{"type":"string"},{"type":"string","maxLength":3}]}""", "anyOf", "")]
    [Arguments("""{"oneOf":[{"type":"integer"},{"type":"integer","minimum":3}]}""", "oneOf", "")]
    [Arguments("""{"allOf":[{"type":"string"},{"maxLength":3}]}""", "allOf", "")]
    [Arguments("""{"$ref":"#/$defs/a","maxLength":3,"$defs":{"a":{"type":"string"}}}""", "maxLength", "")]
    [Arguments("""{"$ref":"http://example.com/schema"}""", "$ref", "")]
    [Arguments("""{"$ref":"#/$defs/missing"}""", "$ref", "")]
    [Arguments("""{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}""", "$ref", "/$defs/a")]
    [Arguments("""{"x-custom":1,"type":"string"}""", "x-custom", "")]
    [Arguments("""{"type":"object","properties":{"a":{"$ref":"#"}},"required":["a"]}""", "$schema", "")]
    [Arguments("""{"type":"object","required":["a"],"additionalProperties":false}""", "$schema", "")]
    [Arguments("""{"if":{"type":"string"},"then":{"maxLength":2}}""", "if", "")]
    public async Task Unsupported_restricting_keyword_is_refused_with_its_pointer(string schema, string keyword, string pointer)
    {
        var refusal = Assert.Throws<SchemaNotSupportedException>(() => ConstraintFixtures.Compile(schema));
        await Assert.That(refusal.Keyword).IsEqualTo(keyword);
        await Assert.That(refusal.Pointer).IsEqualTo(pointer);
        await Assert.That(refusal.Message).Contains(keyword);
    }

    [Test]
    public async Task Limits_are_errors()
    {
        var small = new JsonSchemaCompilerOptions { MaxNodes = 5 };
        var nodes = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(
            """{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"},"c":{"type":"string"},"d":{"type":"string"},"e":{"type":"string"}}}"""u8, small));
        await Assert.That(nodes.Keyword).IsEqualTo("maxNodes");
        var bytes = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(
            """{"type":"string"}"""u8, new JsonSchemaCompilerOptions { MaxSchemaBytes = 4 }));
        await Assert.That(bytes.Keyword).IsEqualTo("maxSchemaBytes");
        var time = Assert.Throws<SchemaNotSupportedException>(() => JsonSchemaCompiler.Compile(
            """{"type":"object","properties":{"a":{"type":"string"}}}"""u8, new JsonSchemaCompilerOptions { MaxCompileTime = TimeSpan.Zero }));
        await Assert.That(time.Keyword).IsEqualTo("maxCompileTime");
    }

    [Test]
    [Arguments("""{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"boolean"}},"required":["b"]}""",
        """{"b":"x"}|{"a":1,"b":"x"}|{"a":1,"b":"x","c":true}|{"b":"","c":false}""",
        """{}|{"a":1}|{"b":"x","a":1}|{"b":"x","b":"y"}|{"b":"x","d":1}|{"b":1}|{"b":"x"} |{"b":"x",}""")]
    [Arguments("""{"type":"integer","minimum":-5,"exclusiveMaximum":120}""",
        """-5|0|7|119|-1""",
        """-6|120|1200|-0|01|1.0|+1|""")]
    [Arguments("""{"type":"number","minimum":0,"exclusiveMaximum":1}""",
        "0|0.5|0.999999999|0.0|-0",
        "1|1.0|-0.1|-1|0.9999999999|1e-3|00|.5|0.")]
    [Arguments("""{"type":"array","items":{"type":"number","minimum":-2.5,"maximum":10}}""",
        "[-2.5,10,3.14159,-0,9.999999999,-2.499]",
        "[-2.51]|[10.000000001]|[11]|[100]|[-3]|[1E1]")]
    [Arguments("""{"type":"array","prefixItems":[{"type":"string"},{"type":"null"}],"items":{"type":"integer"},"minItems":2,"maxItems":3}""",
        """["a",null]|["a",null,3]""",
        """[]|["a"]|["a",null,3,4]|["a","b"]|[null,null]|["a",null,"c"]""")]
    [Arguments("""{"enum":["red","green",1,[1,2],{"k":null},null]}""",
        "\"red\"|\"green\"|1|[1,2]|{\"k\":null}|null",
        "\"blue\"|\"gree\"|12|[1]|{\"k\":0}|true")]
    [Arguments("""{"type":["string","null"],"minLength":2,"maxLength":3}""",
        "null|\"ab\"|\"abc\"|\"é😀\"|\"a\\n\"|\"\\u00e9x\\\"\"",
        "\"a\"|\"abcd\"|\"\\ud83d\\ude00x\"|\"x\u0001\"|1|\"\\x\"")]
    [Arguments("""{"type":"string","pattern":"^[A-Z]{2}-[0-9]{3,4}$"}""",
        "\"AB-123\"|\"ZZ-0000\"",
        "\"AB-12\"|\"ab-123\"|\"AB-12345\"|\"AB-123 \"|\"\\u0041B-123\"")]
    [Arguments("""{"type":"string","pattern":"é.x"}""",
        "\"éax\"|\"-- é😀x? no: éйx\"|\"éйx😀\"",
        "\"éx\"|\"e-x\"|\"é😀x\"|\"é\u2028x\"")]
    [Arguments("""{"type":"string","format":"date-time"}""",
        "\"2024-01-31T23:59:59Z\"|\"1999-12-30T00:00:00.123+05:30\"",
        "\"2024-02-30T00:00:00Z\"|\"2024-01-31 23:59:59Z\"|\"2024-01-31T24:00:00Z\"|\"2024-01-31T23:59:60Z\"|\"2024-01-31T23:59:59\"")]
    [Arguments("""{"type":"string","format":"uuid"}""",
        "\"123e4567-e89b-12d3-a456-426614174000\"",
        "\"123e4567e89b12d3a456426614174000\"|\"123e4567-e89b-12d3-a456-42661417400\"")]
    [Arguments("""{"type":"string","format":"email"}""",
        "\"a.b+c@ex-ample.co.uk\"",
        "\"a..b@x.io\"|\"@x.io\"|\"a@x\"|\".a@x.io\"")]
    [Arguments("""{"type":"object","additionalProperties":{"type":"integer"}}""",
        """{}|{"a":1}|{"a":1,"b":-2}""",
        """{"a":"x"}|{"a":1,}|[]""")]
    [Arguments("""{"$defs":{"t":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/t"}}}}},"$ref":"#/$defs/t"}""",
        """{}|{"kids":[]}|{"kids":[{},{"kids":[{}]}]}""",
        """{"kids":[1]}|{"kids":{}}""")]
    public async Task Accepts_exactly_the_documented_language(string schema, string valid, string invalid)
    {
        JsonGrammar grammar = ConstraintFixtures.Compile(schema);
        foreach (string document in valid.Split('|'))
        {
            await Assert.That(ConstraintFixtures.Accepts(grammar, document.TrimEnd(' '))).IsTrue().Because(document);
        }
        foreach (string document in invalid.Split('|'))
        {
            await Assert.That(ConstraintFixtures.Accepts(grammar, Encoding.UTF8.GetBytes(document))).IsFalse().Because(document);
        }
    }

    [Test]
    public async Task Accepting_state_without_continuation_is_reported()
    {
        JsonGrammar grammar = ConstraintFixtures.Compile("""{"type":"object","properties":{"a":{"type":"integer"}}}""");
        var matcher = new GrammarMatcher(grammar, ConstraintFixtures.Bytes);
        await Assert.That(matcher.TryAdvanceBytes("{\"a\":12"u8)).IsTrue();
        await Assert.That(matcher.IsAccepting).IsFalse();
        await Assert.That(matcher.CanContinue).IsTrue();
        await Assert.That(matcher.TryAdvanceBytes("}"u8)).IsTrue();
        await Assert.That(matcher.IsAccepting).IsTrue();
        await Assert.That(matcher.CanContinue).IsFalse();

        JsonGrammar number = ConstraintFixtures.Compile("""{"type":"integer","maximum":50}""");
        var root = new GrammarMatcher(number, ConstraintFixtures.Bytes);
        await Assert.That(root.TryAdvanceBytes("4"u8)).IsTrue();
        await Assert.That(root.IsAccepting).IsTrue();
        await Assert.That(root.CanContinue).IsTrue(); // 40..49
        await Assert.That(root.TryAdvanceBytes("9"u8)).IsTrue();
        await Assert.That(root.CanContinue).IsFalse();
    }

    [Test]
    public async Task Clone_and_CopyFrom_fork_independently_and_rejected_tokens_change_nothing()
    {
        JsonGrammar grammar = ConstraintFixtures.Compile("""{"type":"object","properties":{"a":{"enum":["x","y"]}}}""");
        var matcher = new GrammarMatcher(grammar, ConstraintFixtures.Bytes);
        await Assert.That(matcher.TryAdvanceBytes("{\"a\":\""u8)).IsTrue();
        GrammarMatcher fork = matcher.Clone();
        await Assert.That(matcher.TryAdvance('z')).IsFalse();
        await Assert.That(matcher.TryAdvance(ConstraintFixtures.ByteEos)).IsFalse();
        await Assert.That(matcher.TryAdvanceBytes("x\"}"u8)).IsTrue();
        await Assert.That(fork.TryAdvanceBytes("y\"}"u8)).IsTrue();
        await Assert.That(matcher.IsAccepting && fork.IsAccepting).IsTrue();
        var copy = new GrammarMatcher(grammar, ConstraintFixtures.Bytes);
        copy.CopyFrom(fork);
        await Assert.That(copy.IsAccepting).IsTrue();
    }

    [Test]
    public async Task Cache_returns_the_same_grammar_and_the_same_refusal()
    {
        var cache = new JsonGrammarCache();
        JsonGrammar first = cache.GetOrCompile("""{"type":"string"}"""u8);
        JsonGrammar second = cache.GetOrCompile("""{"type":"string"}"""u8);
        await Assert.That(ReferenceEquals(first, second)).IsTrue();
        Assert.Throws<SchemaNotSupportedException>(() => cache.GetOrCompile("""{"type":"string","format":"hostname"}"""u8));
        Assert.Throws<SchemaNotSupportedException>(() => cache.GetOrCompile("""{"type":"string","format":"hostname"}"""u8));
        await Assert.That(cache.Hits).IsEqualTo(2);
        await Assert.That(cache.Misses).IsEqualTo(2);
    }
}
