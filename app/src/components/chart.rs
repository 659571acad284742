//! Small SVG charts drawn where the page is rendered (on the server first): stacked areas over
//! time, with a legend, an axis of hours before now and the largest value marked. No library: the
//! shapes are a few polygons, and the same code draws them on the server and after hydration.

use leptos::prelude::*;

/// The drawing's size in SVG units (it scales to the page's width).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 140.0;
/// Room on the left for the largest value, below for the hours.
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 18.0;

/// One stacked series: its name in the legend and one value per bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// Each series' area as polygon points, stacked in order on the ones before it, scaled so the
/// highest stack reaches the top. Answers the points and that highest stack.
pub fn stacked_areas(series: &[Series], buckets: usize) -> (Vec<String>, f64) {
    let mut below = vec![0.0f64; buckets];
    let mut tops = Vec::with_capacity(series.len());
    for one in series {
        let top: Vec<f64> = (0..buckets)
            .map(|bucket| below[bucket] + one.values.get(bucket).copied().unwrap_or(0.0).max(0.0))
            .collect();
        tops.push((below.clone(), top.clone()));
        below = top;
    }
    let highest = below.iter().copied().fold(0.0, f64::max);
    let scale = if highest > 0.0 {
        (HEIGHT - BOTTOM - 4.0) / highest
    } else {
        0.0
    };
    let step = (WIDTH - LEFT) / buckets.max(1) as f64;
    let x = |bucket: usize| LEFT + bucket as f64 * step;
    let y = |value: f64| HEIGHT - BOTTOM - value * scale;
    let polygons = tops
        .iter()
        .map(|(under, top)| {
            // Each bucket is a flat step (its value holds for the bucket's width): along the top
            // left to right, back along the series below right to left.
            let mut points = Vec::with_capacity(buckets * 4);
            for (bucket, value) in top.iter().enumerate() {
                points.push(format!("{:.1},{:.1}", x(bucket), y(*value)));
                points.push(format!("{:.1},{:.1}", x(bucket + 1), y(*value)));
            }
            for (bucket, value) in under.iter().enumerate().rev() {
                points.push(format!("{:.1},{:.1}", x(bucket + 1), y(*value)));
                points.push(format!("{:.1},{:.1}", x(bucket), y(*value)));
            }
            points.join(" ")
        })
        .collect();
    (polygons, highest)
}

/// A number for the axis: whole when large, one decimal when small.
fn axis_number(value: f64) -> String {
    if value >= 10.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// A stacked area chart of `series` over `hours` hours ending now, with its legend (each name with
/// its latest value).
#[component]
pub fn StackedChart(
    /// Says what the chart shows (also its accessible name).
    title: String,
    series: Vec<Series>,
    buckets: usize,
    hours: u64,
    #[prop(into)] test_id: String,
) -> impl IntoView {
    let (polygons, highest) = stacked_areas(&series, buckets);
    let hour_marks: Vec<(f64, String)> = (0..=hours)
        .step_by(6.max(hours as usize / 4))
        .map(|before| {
            let x = WIDTH - (WIDTH - LEFT) * before as f64 / hours.max(1) as f64;
            let label = if before == 0 {
                "now".to_owned()
            } else {
                format!("-{before} h")
            };
            (x, label)
        })
        .collect();
    let legend: Vec<(usize, String, String)> = series
        .iter()
        .enumerate()
        .map(|(index, one)| {
            let latest = one.values.last().copied().unwrap_or(0.0);
            (index, one.name.clone(), axis_number(latest))
        })
        .collect();
    view! {
        <figure class="chart" data-testid=test_id data-highest=axis_number(highest)>
            <figcaption>{title.clone()}</figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=title>
                <line class="axis" x1=LEFT y1={HEIGHT - BOTTOM} x2=WIDTH y2={HEIGHT - BOTTOM}/>
                <text class="axis-label" x={LEFT - 4.0} y={12.0} text-anchor="end">{axis_number(highest)}</text>
                <text class="axis-label" x={LEFT - 4.0} y={HEIGHT - BOTTOM} text-anchor="end">"0"</text>
                {polygons.into_iter().enumerate().map(|(index, points)| view! {
                    <polygon class=format!("series series-{index}") points=points/>
                }).collect_view()}
                {hour_marks.into_iter().map(|(x, label)| view! {
                    <text class="axis-label" x=x y={HEIGHT - 4.0} text-anchor={if x >= WIDTH - 1.0 { "end" } else { "middle" }}>{label}</text>
                }).collect_view()}
            </svg>
            <ul class="legend">
                {legend.into_iter().map(|(index, name, latest)| view! {
                    <li data-testid="legend-item"><span class=format!("swatch series-{index}")></span>{name}" "<b>{latest}</b></li>
                }).collect_view()}
            </ul>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(points: &str) -> Vec<(f64, f64)> {
        points
            .split(' ')
            .map(|pair| {
                let (x, y) = pair.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn areas_stack_and_the_highest_stack_reaches_the_top() {
        let series = vec![
            Series {
                name: "api".into(),
                values: vec![1.0, 3.0],
            },
            Series {
                name: "web".into(),
                values: vec![1.0, 1.0],
            },
        ];
        let (polygons, highest) = stacked_areas(&series, 2);
        assert_eq!(highest, 4.0);
        let bottom = HEIGHT - BOTTOM;
        let top = 4.0;
        let api = parse(&polygons[0]);
        let web = parse(&polygons[1]);
        // api's second bucket is 3 of 4: three quarters of the way up; it stands on the axis.
        assert_eq!(
            api[2].1,
            ((bottom - (bottom - top) * 0.75) * 10.0).round() / 10.0
        );
        assert!(api[4..].iter().all(|(_, y)| *y == bottom));
        // web's second bucket is stacked on api's: its top is the chart's top, its base api's top.
        assert_eq!(web[2].1, top);
        assert_eq!(web[4].1, api[2].1);
        // Both span the drawing left to right.
        assert_eq!(api[0].0, LEFT);
        assert_eq!(api[3].0, WIDTH);
    }

    #[test]
    fn nothing_to_draw_lies_flat() {
        let series = vec![Series {
            name: "api".into(),
            values: vec![0.0; 3],
        }];
        let (polygons, highest) = stacked_areas(&series, 3);
        assert_eq!(highest, 0.0);
        assert!(parse(&polygons[0])
            .iter()
            .all(|(_, y)| *y == HEIGHT - BOTTOM));
    }
}
