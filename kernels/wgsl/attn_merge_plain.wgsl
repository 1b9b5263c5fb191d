// The plain merge's hooks (see attn_merge.wgsl): nothing more to do.
fn merged(d: u32, v: f32) {}

fn merge_done(tok: u32, h: u32, li: u32) {}
