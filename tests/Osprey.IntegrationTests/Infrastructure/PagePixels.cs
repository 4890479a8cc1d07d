using System.Text.Json;
using Microsoft.Playwright;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>Reads pixels of what a page shows (canvas, WebGL canvas, img, video) and compares colours.</summary>
public static class PagePixels
{
    public const int DefaultTolerance = 12;

    /// <summary>The RGB of each point of the element at <paramref name="selector"/>, in its own pixel size.</summary>
    public static async Task<byte[][]> ReadCanvasAsync(IPage page, string selector, (int X, int Y)[] points)
    {
        // drawImage onto a 2D canvas reads a WebGL canvas or an <img> too (the page keeps its drawing buffer).
        var json = await page.EvaluateAsync<JsonElement>(
            """
            ([selector, points]) => {
              const source = document.querySelector(selector);
              const copy = document.createElement('canvas');
              copy.width = source.videoWidth || source.naturalWidth || source.width;
              copy.height = source.videoHeight || source.naturalHeight || source.height;
              const ctx = copy.getContext('2d');
              ctx.drawImage(source, 0, 0);
              return points.map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3)));
            }
            """,
            new object[] { selector, points.Select(p => new[] { p.X, p.Y }).ToArray() });
        return [.. json.EnumerateArray().Select(p => p.EnumerateArray().Select(v => (byte)v.GetInt32()).ToArray())];
    }

    /// <summary>
    /// As <see cref="ReadCanvasAsync"/>, for the element a script expression gives (one inside a shadow root, such as
    /// <c>document.querySelector('osprey-player').media</c>).
    /// </summary>
    public static async Task<byte[][]> ReadElementAsync(IPage page, string elementExpression, (int X, int Y)[] points)
    {
        var json = await page.EvaluateAsync<JsonElement>(
            "(points) => { const source = (" + elementExpression + """
            );
              const copy = document.createElement('canvas');
              copy.width = source.videoWidth || source.naturalWidth || source.width;
              copy.height = source.videoHeight || source.naturalHeight || source.height;
              const ctx = copy.getContext('2d');
              ctx.drawImage(source, 0, 0);
              return points.map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3)));
            }
            """,
            points.Select(p => new[] { p.X, p.Y }).ToArray());
        return [.. json.EnumerateArray().Select(p => p.EnumerateArray().Select(v => (byte)v.GetInt32()).ToArray())];
    }

    public static void AssertColour(byte[] actual, byte[] expected, string what, int tolerance = DefaultTolerance)
    {
        for (var c = 0; c < 3; c++)
        {
            Assert.True(Math.Abs(actual[c] - expected[c]) <= tolerance,
                $"{what}: got RGB({string.Join(",", actual)}), expected RGB({string.Join(",", expected)}) ±{tolerance}");
        }
    }

    public static byte Clamp(int value) => (byte)Math.Clamp(value, 0, 255);
}
