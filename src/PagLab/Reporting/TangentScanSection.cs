using System.Net;
using System.Text;
using PagLab.Experiments;
using PagLab.Uncertainty;

namespace PagLab.Reporting;

/// <summary>
/// The report's tangent-dimension scan (`shared.tangentDimensions`, issue 24): per dataset, how well each k's
/// autoencoder fits (its test error against PCA's, paired over the same images, and its principal angles to local
/// PCA's tangents), then each level's off/on (ratio of means and median per image) and off/isotropic at every k and
/// eps. Nothing is shown without a scan.
/// </summary>
public static class TangentScanSection
{
    public static void Render(StringBuilder html, ReportModel model)
    {
        if (model.Levels.All(l => l.Scan.Count == 0) && model.Latents.Count == 0) return;
        html.Append("<h2>Tangent-dimension scan</h2><p>The on/off measurement repeated on the tangent spaces of one "
            + "autoencoder per latent dimension k (the same images and draws at every k), with off over isotropic "
            + "noise of the same norm (about 1: off-manifold directions move the output like any direction; 0: the "
            + "model is flat off the manifold). The on/off findings above are evaluated at every k and eps shown "
            + "here. A k below the data's dimension counts true manifold directions as off, a k above it counts "
            + "off directions as on.</p>");
        foreach (var dataset in model.Datasets)
        {
            if (model.Latents.TryGetValue(dataset, out var latents)) Latents(html, dataset, latents);
            var levels = model.Levels.Where(l => l.Level.Dataset == dataset && l.Scan.Count > 0).ToList();
            if (levels.Count > 0) Cells(html, dataset, levels);
        }
    }

    static void Latents(StringBuilder html, string dataset, IReadOnlyList<Manifold.LatentQuality> latents)
    {
        html.Append($"<h3>{Esc(dataset)}: the manifold estimate per k</h3><table><tr><th>k</th><th>estimator</th>"
            + "<th>autoencoder test MSE per pixel</th><th>PCA test MSE per pixel</th><th>autoencoder - PCA (paired)"
            + "</th><th>mean angle to local PCA (degrees)</th><th>largest angle</th>"
            + "<th>mean angle to the exact tangents (degrees)</th></tr>");
        foreach (var q in latents)
        {
            bool local = q.Estimator == Manifold.TangentEstimator.LocalPca;
            html.Append($"<tr><td>{q.Latent}</td>")
                .Append($"<td class=l>{Common.Vocabulary.Name(q.Estimator ?? Manifold.TangentEstimator.Autoencoder)}")
                .Append($"</td><td>{T(q.AutoencoderError, q.AutoencoderMse)}</td>")
                .Append($"<td>{T(q.PcaError, q.PcaMse)}</td><td>{T(q.AutoencoderMinusPca, null)}</td>")
                .Append($"<td>{(local ? "–" : T(q.MeanAngleDegrees, q.AnglesToLocalPca.MeanDegrees))}</td>")
                .Append($"<td>{(local ? "–" : Number(q.AnglesToLocalPca.MaxDegrees) + " (max over images)")}</td>")
                .Append($"<td>{T(q.MeanAngleToExactDegrees, null)}</td></tr>");
        }
        html.Append("</table>");
    }

    static void Cells(StringBuilder html, string dataset, IReadOnlyList<LevelSummary> levels)
    {
        var epsilons = levels.SelectMany(l => l.Scan.Select(c => c.Epsilon)).Distinct().Order().ToList();
        html.Append($"<h3>{Esc(dataset)}: off/on per k</h3><table><tr><th rowspan=2>level</th><th rowspan=2>k</th>");
        foreach (double eps in epsilons) html.Append($"<th colspan=3>eps {OnOffCells.Number(eps)}</th>");
        html.Append("</tr><tr>");
        foreach (var _ in epsilons) html.Append("<th>off/on</th><th>median per image</th><th>off/isotropic</th>");
        html.Append("</tr>");
        foreach (var level in levels)
            foreach (var k in level.Scan.Select(c => c.Latent).Distinct())
            {
                html.Append($"<tr class=\"{level.Regime.Name()}\"><td class=l>{Esc(level.Level.Label)}</td>"
                    + $"<td>{k}</td>");
                foreach (double eps in epsilons)
                {
                    var c = level.Scan.FirstOrDefault(x => x.Latent == k && x.Epsilon == eps);
                    html.Append($"<td>{T(c?.OffOverOn, null)}</td><td>{T(c?.MedianOffOverOn, null)}</td>")
                        .Append($"<td>{T(c?.OffOverIsotropic, null)}</td>");
                }
                html.Append("</tr>");
            }
        html.Append("</table>");
    }

    /// <summary>An estimate with its interval; a scan written before intervals shows its point value, marked.</summary>
    static string T(Estimate? e, double? point) => e is not null ? Esc(e.Text("G3"))
        : point is double p && double.IsFinite(p) ? $"{Number(p)} (no interval)" : "–";

    static string Number(double v) => Esc(v.ToString("G3", System.Globalization.CultureInfo.InvariantCulture));

    static string Esc(string s) => WebUtility.HtmlEncode(s);
}
