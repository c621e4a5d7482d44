/// The design's adaptive gradient clip for seed parameters (02-kasmina, design extras):
/// clip(α) = 0.1 / (1 + 100·(α − 0.5)²) — widest (0.1) half-way through the blend, 0.1/26 at
/// α = 0 and α = 1: a seed learning in the shadow (α = 0) or carrying the whole output
/// (α = 1) takes the smallest steps. Off unless a run asks for it
/// (`seeds.adaptive_gradient_clip`); it never loosens `gradient_clip_norm`.
public enum AdaptiveGradientClip {
    public static let peak: Float = 0.1

    /// The global-norm bound for the seed's gradients at blend weight α.
    public static func norm(alpha: Float) -> Float {
        let offset = alpha - 0.5
        return peak / (1 + 100 * offset * offset)
    }

    /// The bound a seed's optimizer step applies under these settings.
    static func bound(alpha: Float, configured: Float, adaptive: Bool) -> Float {
        adaptive ? min(configured, norm(alpha: alpha)) : configured
    }
}
